"""A saved run, typed: what reports take instead of the run dict.

    run = Run.from_dict(run_file.load_run("cegi-out/run.json"))

Built once from a validated run dict. Each record keeps the totals the file stored
(energy, emissions, cost, the estimate flag) beside its typed `Record`, so a report
shows a saved figure as saved, never recomputed from windows where the two could differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pytest_cegi.core.projection import Projection, project_run
from pytest_cegi.core.record import Record


@dataclass(frozen=True)
class SavedRecord:
    """One record of a saved run: the typed record and the totals the file stored."""

    record: Record
    energy_kwh: float | None = None
    emissions_kg: float | None = None
    cost: float | None = None
    estimate: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SavedRecord:
        return cls(
            record=Record.from_dict(d),
            energy_kwh=d.get("energy_kwh"),
            emissions_kg=d.get("emissions_kg"),
            cost=d.get("cost"),
            estimate=bool(d.get("estimate")),
        )

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def variant(self) -> str:
        return self.record.variant

    def figure(self, quantity: str) -> float | None:
        """The stored figure of a compared quantity (judge/regression.py QUANTITIES)."""
        if quantity == "score":
            return self.record.score
        if quantity == "cegi":
            return self.record.cegi
        return {"cost": self.cost, "emissions": self.emissions_kg, "energy": self.energy_kwh}[quantity]


@dataclass(frozen=True)
class Run:
    """A saved run: its records, meter, machine, settings, creation time and warnings."""

    records: tuple[SavedRecord, ...]
    meter: Mapping[str, Any]  # the Method dict as saved (older files may lack fields); {} for none
    machine: Mapping[str, Any]
    settings: Mapping[str, Any]
    created: str | None = None
    warnings: tuple[str, ...] = ()
    projections: tuple[Projection, ...] = field(default=())  # from the deployments the run declares

    @classmethod
    def from_dict(cls, run: Mapping[str, Any]) -> Run:
        meter: Mapping[str, Any] = run.get("meter") or {}
        if not meter:  # older writers: take it from a record
            meter = next((r["method"] for r in run.get("records", []) if r.get("method")), {})
        return cls(
            records=tuple(SavedRecord.from_dict(r) for r in run.get("records", [])),
            meter=MappingProxyType(dict(meter)),
            machine=MappingProxyType(dict(run.get("machine") or {})),
            settings=MappingProxyType(dict(run.get("settings") or {})),
            created=run.get("created"),
            warnings=tuple(run.get("warnings") or ()),
            projections=tuple(project_run(dict(run))),
        )


__all__ = ["Run", "SavedRecord"]
