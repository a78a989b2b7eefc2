"""A saved run, typed: what reports take instead of the run dict.

    run = Run.from_dict(run_file.load_run("cegi-out/run.json"))

Built once from a validated run dict. Each record keeps the totals the file stored
(energy, emissions, cost, the estimate flag) beside its typed `Record`, so a report
shows a saved figure as saved, never recomputed from windows where the two could differ.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pytest_cegi.core.projection import Projection, project_run
from pytest_cegi.core.quantities import QUANTITY
from pytest_cegi.core.record import Record
from pytest_cegi.core.window import Method


@dataclass(frozen=True)
class SavedRecord:
    """One record of a saved run: the typed record and the totals the file stored."""

    record: Record
    energy_kwh: float | None = None
    emissions_kg: float | None = None
    cost: float | None = None
    estimate: bool = False

    @classmethod
    def of(cls, record: Record) -> SavedRecord:
        """A finished record with the totals its run file will store (there, a figure
        JSON cannot hold, inf or NaN, becomes null)."""
        cost = record.cost()
        return cls(record, record.energy_kwh, record.emissions_kg, None if cost is None else cost[0], record.estimate)

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
    def nodeid(self) -> str:
        return self.record.nodeid

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def variant(self) -> str:
        return self.record.variant

    def figure(self, quantity: str) -> float | None:
        """The stored figure of a compared quantity (core/quantities.py): the total the
        run file stored, where it stores one, else the record's own figure."""
        q = QUANTITY[quantity]
        own = q.read(self.record)
        if q.stored is None or own is None:  # None: the record has no such figure (e.g. not measured)
            return own
        figure: float | None = getattr(self, q.stored)
        return figure


@dataclass(frozen=True)
class Run:
    """A saved run: its records, meter, machine, settings, creation time and warnings."""

    records: tuple[SavedRecord, ...]
    meter: Method | None  # how the run measured; None when it measured nothing
    machine: Mapping[str, Any]
    settings: Mapping[str, Any]
    created: str | None = None
    warnings: tuple[str, ...] = ()
    packages: Mapping[str, str] = field(default_factory=dict)  # {distribution: version} of the stack that ran
    incomplete: str | None = None  # why a session cut short saved fewer tests than it selected
    shards: tuple[str, ...] = ()  # a merged run's shards, "LABEL (FILE)" each (pytest-cegi merge)

    @classmethod
    def from_dict(cls, run: Mapping[str, Any]) -> Run:
        meter: Mapping[str, Any] | None = run.get("meter")
        if not meter:  # older writers: take it from a record
            meter = next((r["method"] for r in run.get("records", []) if r.get("method")), None)
        return cls(
            records=tuple(SavedRecord.from_dict(r) for r in run.get("records", [])),
            meter=saved_method(meter) if meter else None,
            machine=MappingProxyType(dict(run.get("machine") or {})),
            settings=MappingProxyType(dict(run.get("settings") or {})),
            created=run.get("created"),
            warnings=tuple(run.get("warnings") or ()),
            packages=MappingProxyType(dict(run.get("packages") or {})),
            incomplete=run.get("incomplete"),
            shards=tuple(
                s["label"] if s["label"] == s["file"] else f"{s['label']} ({s['file']})"
                for s in run.get("shards") or ()
            ),
        )

    @classmethod
    def from_session(cls, records: Sequence[Record], meter: Method | None, data: Mapping[str, Any]) -> Run:
        """The run a session is about to save, from its typed records and meter; the
        rest (machine, settings, warnings, ...) as `data`, the run dict it saves, holds it."""
        typed = cls.from_dict({**data, "records": []})
        return dataclasses.replace(typed, records=tuple(SavedRecord.of(r) for r in records), meter=meter)

    @functools.cached_property
    def projections(self) -> tuple[Projection, ...]:
        """From the deployments the run declares; computed on first use (only reports
        show them), so typing a run to compare it never projects it."""
        return tuple(project_run(self))


def saved_method(d: Mapping[str, Any]) -> Method:
    """A meter description as a run file stores it, typed. Files written before a field
    existed lack it and get its default (`basis` "machine", `ram` ""); a meter that could
    not resolve its carbon factor saved none, which stays None (every report shows it as
    unknown), as in windows read back from a file."""
    return Method(**{"carbon_factor_g_per_kwh": None, **d})


__all__ = ["Run", "SavedRecord", "saved_method"]
