"""A record's measured figures split by phase, the unit the measured-energy rules judge.

Each phase is judged on its own windows: a repeated inference window keeps its
repeats (and its significance test) even when the record's fine-tune window ran once,
or was pooled from two sessions. Mixing them would leave the record with the common
count of the two, too few to judge anything, and a 6x inference regression through.

Where a phase holds both repeated windows and windows measured once, the two are
judged apart ("inference, repeated" and "inference, measured once"), each by its
own rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_cegi.core.record import Record
from pytest_cegi.core.window import Window
from pytest_cegi.judge import stats

ENERGY_FIELDS = {"energy": "energy_kwh", "emissions": "emissions_kg", "cegi": "emissions_kg"}


@dataclass(frozen=True)
class PhaseSamples:
    """One phase's figure of an energy-derived quantity and, when every window in it
    was repeated, its per-repeat totals (scaled so they average to the figure)."""

    phase: str
    figure: float
    totals: tuple[float, ...] = ()

    @property
    def repeats(self) -> int:
        """How many samples the phase has: its repeats, or 1 for a figure measured once."""
        return len(self.totals) or 1

    def lowest(self, n: int) -> float:
        """The expected lowest of n of these repeats (the lowest, when n is all of them)."""
        return stats.expected_lowest(list(self.totals), n)


def phase_samples(record: Record, quantity: str) -> dict[str, PhaseSamples] | None:
    """{phase: PhaseSamples} over the record's counted windows, or None when the
    quantity is not measured energy or cannot be split (no CEGI, a window at 0)."""
    field = ENERGY_FIELDS.get(quantity)
    if field is None:
        return None
    scale = 1.0
    if quantity == "cegi":
        # CEGI = E / (dP * T_M): dP and T_M are deterministic, so each phase's share of
        # the CEGI is its emissions times CEGI / E.
        if record.cegi is None or not record.emissions_kg:
            return None
        scale = record.cegi / record.emissions_kg
    out: dict[str, PhaseSamples] = {}
    for name, windows in _groups(record.counted_windows()).items():
        samples = _samples(windows, field, scale)
        if samples is None:
            return None
        out[name] = samples if samples.phase == name else PhaseSamples(name, samples.figure, samples.totals)
    return out


def _groups(windows: Sequence[Window]) -> dict[str, list[Window]]:
    """Windows by phase; a phase mixing repeated and once-measured windows is split in two."""
    by_phase: dict[str, list[Window]] = {}
    for w in windows:
        by_phase.setdefault(w.phase, []).append(w)
    groups: dict[str, list[Window]] = {}
    for phase, members in by_phase.items():
        repeated = [w for w in members if len(w.samples) >= 2]
        once = [w for w in members if len(w.samples) < 2]
        if repeated and once:
            groups[f"{phase}, repeated"] = repeated
            groups[f"{phase}, measured once"] = once
        else:
            groups[phase] = members
    return groups


def _samples(windows: list[Window], field: str, scale: float) -> PhaseSamples | None:
    figure = sum(getattr(w, field) for w in windows) * scale
    if any(len(w.samples) < 2 for w in windows):
        return PhaseSamples(windows[0].phase, figure)
    n = min(len(w.samples) for w in windows)  # unequal counts: use the common repeats
    totals = [0.0] * n
    for w in windows:
        mean = sum(w.samples) / len(w.samples)
        if mean <= 0:
            return None
        factor = getattr(w, field) / mean * scale  # samples are kWh; the figure may be kg
        # strict=False: a window with more samples than `n` contributes its first n
        totals = [t + s * factor for t, s in zip(totals, w.samples, strict=False)]
    return PhaseSamples(windows[0].phase, figure, tuple(totals))
