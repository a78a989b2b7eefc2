"""The compared quantities: one table, read by settings, schema, judge and reports.

Each quantity a baseline comparison judges is one `Quantity` in `QUANTITIES`, in the
order reports show them. From this table come:

- the keys of `max_regression` and their defaults (core/tolerances.py, core/settings.py,
  the run file's check in core/run_schema.py);
- how the judge reads and judges a figure (judge/regression.py: `value_of`, the
  measured / modelled / counted rules, `format_value`);
- the stored figure of a saved record (core/run.py `SavedRecord.figure`);
- the report's columns (report/markdown.py).

How a quantity is judged (`judged`):
- "score": the test's metric; deterministic (greedy decoding), judged by tolerance,
  in the metric's direction (higher or lower is better);
- "counted": counted work (FLOPs or tokens): exact, comparable across machines, judged
  by tolerance when both sides counted the same thing;
- "modelled": counted work priced by a device profile: exact, compared only under one
  profile and one basis;
- "measured": from measured energy: noisy and machine-bound, judged on repeated windows
  (lowest repeats and a significance test) or, measured once, by the single-sample rule;
  a deterministic meter's figures are judged by tolerance alone.

Adding a quantity: one entry here (and, when the record lacks the figure, its field in
core/record.py), plus its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_cegi.core.units import format_energy, format_mass

if TYPE_CHECKING:  # settings read this table: an unused session never imports the record
    from pytest_cegi.core.record import Record

JUDGED = ("score", "counted", "modelled", "measured")
UNITS = ("number", "mass", "energy")


@dataclass(frozen=True)
class Quantity:
    name: str  # the key in max_regression, comparisons and run files
    header: str  # the report's column header
    judged: str  # one of JUDGED
    unit: str  # one of UNITS: how a figure is formatted
    default_tolerance: str  # what max_regression starts from
    read: Callable[[Record], float | None]  # the figure, from a record
    stored: str | None = None  # the SavedRecord total a run file stores for it, if any

    def format(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "mass":
            return format_mass(value)
        if self.unit == "energy":
            return format_energy(value)
        return f"{value:.4g}"


def _cost(record: Record) -> float | None:
    cost = record.cost()
    return None if cost is None else float(cost[0])


def _measured(figure: Callable[[Record], float]) -> Callable[[Record], float | None]:
    return lambda record: figure(record) if record.measured else None


# Counted and modelled figures are exact (the same work gives the same number on every
# machine that shares a profile), so their tolerance is tight: cost (FLOPs or tokens)
# at 1 % catches any change of 2 % or more.
QUANTITIES: tuple[Quantity, ...] = (
    Quantity("score", "Score", "score", "number", "0.01", lambda r: r.score),
    Quantity("cost", "Cost", "counted", "number", "1%", _cost, stored="cost"),
    Quantity("modelled_energy", "Modelled energy", "modelled", "energy", "1%", lambda r: r.modelled_energy_kwh),
    Quantity("modelled_emissions", "Modelled emissions", "modelled", "mass", "1%", lambda r: r.modelled_emissions_kg),
    Quantity("emissions", "Emissions", "measured", "mass", "10%", _measured(lambda r: r.emissions_kg), "emissions_kg"),
    Quantity("energy", "Energy", "measured", "energy", "10%", _measured(lambda r: r.energy_kwh), "energy_kwh"),
    Quantity("cegi", "CEGI", "measured", "number", "10%", lambda r: r.cegi),
)
QUANTITY: dict[str, Quantity] = {q.name: q for q in QUANTITIES}
NAMES: tuple[str, ...] = tuple(QUANTITY)


def names(judged: str) -> tuple[str, ...]:
    """The quantities judged one way ("score", "counted", "modelled", "measured")."""
    return tuple(q.name for q in QUANTITIES if q.judged == judged)


__all__ = ["JUDGED", "NAMES", "QUANTITIES", "QUANTITY", "UNITS", "Quantity", "names"]
