"""Deployment projection: what a variant would emit in a day and a year of serving.

As in the compact-models study: daily kg CO2e =
    per-request inference emissions x requests per second x 86,400 s x units,
and annual = daily x 365. (The study's own figure, 2.298183e-08 kg per run x 15 fps x
86,400 s x 24e6 cameras = 714,826.84 kg, is a day's, though it calls it a year's:
a year is 2.609e8 kg. tests/core/test_projection.py checks both.)

- per-request emissions = emissions of the record's `inference` windows divided by
  the number of requests those windows served (`cegi.measure(requests=N)`, the
  record's `requests`)
  (for repeated windows: requests per repeat, as a repeated window's figure is
  the figure of one repeat).
- the volume is declared in the budget file, globally or per budget entry:
  `deployment = { requests_per_second = 15, units = 24e6 }` or
  `deployment = { requests_per_day = 2e6 }`; `units` (deployed copies) defaults to 1.
  A saved run carries it as `settings["deployment"]`, or per record as
  `record["deployment"]`, which wins. `Run.projections` (core/run.py) holds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_cegi.core.record import Record


# What a projection reads of core/run.py's SavedRecord and Run, by shape: run.py imports
# this module, so naming its classes here would close a circle.
class SavedRecord(Protocol):
    @property
    def record(self) -> Record: ...
    @property
    def nodeid(self) -> str: ...
    @property
    def estimate(self) -> bool: ...


class Run(Protocol):
    @property
    def records(self) -> Sequence[SavedRecord]: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...


SECONDS_PER_DAY = 24 * 3600
DAYS_PER_YEAR = 365
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
DEPLOYMENT_KEYS = ("requests_per_second", "requests_per_day", "units")


class DeploymentError(ValueError):
    """An invalid deployment declaration; the message names where and which key."""


@dataclass(frozen=True)
class Deployment:
    requests_per_year: float  # per deployed unit
    units: float
    text: str  # as declared, for the report

    @property
    def requests_per_day(self) -> float:
        """Per deployed unit."""
        return self.requests_per_year / DAYS_PER_YEAR

    def to_dict(self) -> dict[str, Any]:
        return {"requests_per_year": self.requests_per_year, "units": self.units, "text": self.text}


def parse_deployment(value: object, where: str = "deployment") -> Deployment:
    """Validate a declaration such as {"requests_per_second": 15, "units": 24e6}."""
    if not isinstance(value, Mapping):
        raise DeploymentError(
            f"{where}: expected a table such as {{ requests_per_second = 15, units = 24e6 }}, got {value!r}"
        )
    unknown = sorted(set(value) - set(DEPLOYMENT_KEYS))
    if unknown:
        raise DeploymentError(f"{where}: unknown key {unknown[0]!r}; use {', '.join(DEPLOYMENT_KEYS)}")
    rates = [k for k in ("requests_per_second", "requests_per_day") if k in value]
    if len(rates) != 1:
        raise DeploymentError(f"{where}: give exactly one of requests_per_second or requests_per_day")
    rate = _positive(value[rates[0]], where, rates[0])
    units = _positive(value.get("units", 1), where, "units")
    per_year = rate * (SECONDS_PER_YEAR if rates[0] == "requests_per_second" else DAYS_PER_YEAR)
    unit = "req/s" if rates[0] == "requests_per_second" else "req/day"
    return Deployment(per_year, units, f"{rate:g} {unit} x {units:g} units")


def _positive(value: object, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise DeploymentError(f"{where}: {key} must be a positive number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Projection:
    task: str
    variant: str
    nodeid: str
    deployment: Deployment
    per_request_kg: float | None
    annual_kg: float | None
    reason: str | None = None  # why it could not be projected
    estimate: bool = False  # built on modelled (not metered) energy

    @property
    def daily_kg(self) -> float | None:
        """A day of the deployment: the annual figure / 365."""
        return None if self.annual_kg is None else self.annual_kg / DAYS_PER_YEAR

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "variant": self.variant,
            "nodeid": self.nodeid,
            "deployment": self.deployment.to_dict(),
            "per_request_kg": self.per_request_kg,
            "daily_kg": self.daily_kg,
            "annual_kg": self.annual_kg,
            "reason": self.reason,
            "estimate": self.estimate,
        }


def project(saved: SavedRecord, deployment: Deployment) -> Projection:
    """Project one saved record to a day and a year of deployment."""
    record = saved.record

    def result(per_request: float | None = None, reason: str | None = None) -> Projection:
        annual = None if per_request is None else per_request * deployment.requests_per_year * deployment.units
        return Projection(
            record.task, record.variant, record.nodeid, deployment, per_request, annual, reason, saved.estimate
        )

    windows = [w for w in record.windows if w.phase == "inference"]
    if not windows:
        return result(reason="no inference window measured")
    requests = record.requests
    if requests is None or requests <= 0:
        return result(reason="request count unknown (cegi.measure(requests=N))")
    return result(per_request=sum(w.emissions_kg for w in windows) / requests)


def project_run(run: Run, deployment: Deployment | None = None) -> list[Projection]:
    """Projections for every record with a declared (or the given) deployment."""
    out: list[Projection] = []
    for saved in run.records:
        dep = deployment or deployment_for(run, saved)
        if dep is not None:
            out.append(project(saved, dep))
    return out


def deployment_for(run: Run, saved: SavedRecord) -> Deployment | None:
    """The record's own declaration, else the run's; None when neither declares one."""
    declared = saved.record.deployment or run.settings.get("deployment")
    if not declared:
        return None
    return parse_deployment(declared, f"deployment of {saved.nodeid}")
