"""Regression rules: judge one quantity of one test against its baseline.

Scores (greedy decoding) and cost (FLOPs or tokens, counted) are deterministic, so
they are judged by tolerance alone; cost is comparable across machines. So is energy
from a deterministic meter (`flops`).

Measured energy is not deterministic: on a shared machine the same work takes more
CPU time when a neighbour runs, and interference only ever adds cost. So a measured
energy-derived quantity (energy, emissions, CEGI) is judged on repeated windows
(`--cegi-repeat N`, N >= 3 on both sides): it regresses when the *lowest* repeat of
the head exceeds the baseline's lowest by more than the tolerance (the least disturbed
repeat is the best estimate of what the work itself costs) and a one-sided
Mann-Whitney U test on the repeats agrees (see stats.py). Windows measured once
(fine-tuning, a plain `with cegi.measure()` block) are shown but not gated: one sample
a side cannot tell a change from a busy neighbour. benchmarks/scripts/gate_power.py
measures how often each rule cries wolf and how often it catches a known regression.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_cegi.core.record import Record
from pytest_cegi.core.settings import DEFAULT_MAX_REGRESSION, REGRESSION_QUANTITIES
from pytest_cegi.core.units import Tolerance, format_energy, format_mass, parse_tolerance
from pytest_cegi.judge import stats

QUANTITIES = REGRESSION_QUANTITIES
# Quantities derived from measured energy: noisy, and meaningless across machines.
ENERGY_DERIVED = ("emissions", "energy", "cegi")
# Modelled from counted work by a device profile: exact, judged by tolerance alone.
MODELLED = ("modelled_energy", "modelled_emissions")

# The same defaults `[tool.cegi] max_regression` starts from.
DEFAULT_TOLERANCES = {q: parse_tolerance(t) for q, t in DEFAULT_MAX_REGRESSION.items()}
DEFAULT_SOURCE = "default"

# What callers may pass as tolerances: per quantity a Tolerance, something
# parse_tolerance accepts ("10%", 0.01), a (tolerance, source) pair, or None
# to switch that rule off.
ToleranceSpec = Mapping[str, object]
Tolerances = ToleranceSpec | Callable[[Record], ToleranceSpec] | None


@dataclass(frozen=True)
class Rule:
    tolerance: Tolerance
    source: str  # where the tolerance came from, shown in reports


def resolve_rules(tolerances: Tolerances, record: Record) -> dict[str, Rule | None]:
    """{quantity: Rule | None} for one record: defaults, overridden by the caller's."""
    spec = tolerances(record) if callable(tolerances) else tolerances
    rules: dict[str, Rule | None] = {q: Rule(t, DEFAULT_SOURCE) for q, t in DEFAULT_TOLERANCES.items()}
    for quantity, value in (spec or {}).items():
        if quantity not in DEFAULT_TOLERANCES:
            raise ValueError(f"unknown regression quantity {quantity!r}; use one of {', '.join(DEFAULT_TOLERANCES)}")
        if value is None:
            rules[quantity] = None
            continue
        source = "max_regression"
        if isinstance(value, tuple):
            value, source = value
        tol = value if isinstance(value, Tolerance) else parse_tolerance(value)
        rules[quantity] = Rule(tol, source)
    return rules


@dataclass
class QuantityDelta:
    """One quantity of one test, baseline against head."""

    quantity: str
    base: float | None
    head: float | None
    rule: Rule | None
    status: str  # "regression", "improvement", "unchanged", "lost" (head has none), "not compared"
    reason: str  # one line a reviewer can act on
    test: stats.TestResult | None = None
    unrepeated: bool = False  # measured, fewer than MIN_REPEATS repeats a side: not gated
    detectable: float | None = None  # smallest relative change the repeats could detect
    # (baseline, head) lowest repeats: what a repeated measured quantity was judged on
    lowest: tuple[float, float] | None = None

    @property
    def delta(self) -> float | None:
        if self.base is None or self.head is None:
            return None
        return self.head - self.base

    @property
    def relative(self) -> float | None:
        if self.delta is None or self.base is None or self.base == 0:
            return None
        return self.delta / abs(self.base)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "base": self.base,
            "head": self.head,
            "delta": self.delta,
            "relative": self.relative,
            "status": self.status,
            "reason": self.reason,
            "unrepeated": self.unrepeated,
            "tolerance": self.rule.tolerance.text if self.rule else None,
            "source": self.rule.source if self.rule else None,
            "p_value": self.test.p_value if self.test else None,
            "test": self.test.describe() if self.test else None,
            "detectable": self.detectable,
            "lowest": list(self.lowest) if self.lowest else None,
        }


def value_of(record: Record, quantity: str) -> float | None:
    if quantity == "score":
        return record.score
    if quantity == "cost":
        cost = record.cost()
        return None if cost is None else float(cost[0])
    if quantity == "cegi":
        return record.cegi
    if quantity == "modelled_energy":
        return record.modelled_energy_kwh
    if quantity == "modelled_emissions":
        return record.modelled_emissions_kg
    if not record.measured:
        return None
    return record.emissions_kg if quantity == "emissions" else record.energy_kwh


# Meters whose figures are the same on every run of the same code: their energy is
# judged like cost, by tolerance alone, repeated or not.
DETERMINISTIC_METERS = ("flops",)
# The fewest repeats a side with which the significance test can reach ALPHA at all
# (2 vs 2: the smallest p is 1/6), so with which a measured quantity is gated: 3.
MIN_REPEATS = next(n for n in range(1, 100) if stats.can_reach_significance(n, n))


@dataclass(frozen=True)
class RepeatSamples:
    """Per-repeat totals of an energy-derived quantity over a record's repeated windows."""

    totals: list[float]
    left_out: tuple[str, ...]  # phases of windows measured once, not part of the totals

    def lowest(self, n: int) -> float:
        """The expected lowest of n of these repeats (the lowest, when n is all of them)."""
        return stats.expected_lowest(self.totals, n)


def is_deterministic(record: Record) -> bool:
    method = record.method
    return method is not None and method.meter in DETERMINISTIC_METERS


def repeat_samples(record: Record, quantity: str) -> RepeatSamples | None:
    """Per-repeat totals of an energy-derived quantity, or None if nothing was repeated.

    Only repeated windows count: a window measured once has no spread to judge it by.
    Samples are scaled so they average to the window's own figure, whichever way the
    meter aggregates repeats (mean or sum).
    """
    if quantity not in ENERGY_DERIVED:
        return None
    windows = record.counted_windows()
    repeated = [w for w in windows if len(w.samples) >= 2]
    if not repeated:
        return None
    n = min(len(w.samples) for w in repeated)  # unequal counts: use the common repeats
    field = "energy_kwh" if quantity == "energy" else "emissions_kg"
    totals = [0.0] * n
    for w in repeated:
        mean = sum(w.samples) / len(w.samples)
        if mean <= 0:
            return None
        scale = getattr(w, field) / mean
        # strict=False: a window with more samples than `n` contributes its first n
        totals = [t + s * scale for t, s in zip(totals, w.samples, strict=False)]
    if quantity == "cegi":
        # CEGI = E / (dP * T_M): dP and T_M are deterministic, so scale E's samples by
        # 1 / (dP * T_M) = CEGI / E.
        if record.cegi is None or not record.emissions_kg:
            return None
        totals = [t * record.cegi / record.emissions_kg for t in totals]
    left_out = tuple(sorted({w.phase for w in windows if len(w.samples) < 2}))
    return RepeatSamples(totals, left_out)


def judge(quantity: str, base: Record, head: Record, rule: Rule | None, refused: str | None = None) -> QuantityDelta:
    """Compare one quantity; `refused` names why it must not be compared."""
    b, h = value_of(base, quantity), value_of(head, quantity)
    delta = QuantityDelta(quantity, b, h, rule, "not compared", "")
    if rule is None:
        delta.reason = f"no {quantity} regression rule"
        return delta
    if refused:
        delta.reason = refused
        return delta
    owed = quantity != "cegi" or head.cegi_applicable  # nothing trained: no CEGI owed, none lost
    if b is not None and h is None and owed:  # a figure the baseline has and this run lost: never a pass
        delta.status = "lost"
        delta.reason = f"{quantity} lost: baseline {format_value(quantity, b)}, none in this run" + _why_missing(
            quantity, head
        )
        return delta
    if b is None or h is None:
        missing = "baseline" if b is None else "this run"
        delta.reason = f"{quantity} not available in {missing}" + _why_missing(quantity, base if b is None else head)
        return delta
    if quantity == "cost":
        b_basis, h_basis = (base.cost() or (0, ""))[1], (head.cost() or (0, ""))[1]
        if b_basis != h_basis:
            delta.reason = f"cost not compared: baseline counted {b_basis}, this run {h_basis}"
            return delta
    if quantity in MODELLED and base.modelled_by != head.modelled_by:
        delta.reason = (
            f"{quantity} not compared: baseline {base.modelled_by}, this run {head.modelled_by} "
            f"(modelled figures compare only under one profile)"
        )
        return delta
    if quantity in MODELLED and base.modelled_basis != head.modelled_basis:
        delta.reason = (
            f"{quantity} not compared: baseline modelled {base.modelled_basis}, this run {head.modelled_basis}"
        )
        return delta
    limit = f"tolerance {rule.tolerance.text} ({rule.source})"
    if quantity in ENERGY_DERIVED and not (is_deterministic(base) and is_deterministic(head)):
        return _judge_measured(delta, quantity, base, head, rule, limit)

    higher_is_better = quantity == "score" and head.higher_is_better
    change = describe_change(quantity, b, h)
    if quantity == "cost":
        change += f" [{(head.cost() or (0, ''))[1]}]"
    elif quantity in MODELLED:
        change += f" [{head.modelled_basis}]"
    direction = _beyond(rule, b, h, higher_is_better)
    if direction is None:
        delta.status, delta.reason = "unchanged", f"{change}, within {limit}"
    else:
        verb = "exceeds" if direction == "regression" else "improves beyond"
        delta.status, delta.reason = direction, f"{change} {verb} {limit}"
    return delta


def _beyond(rule: Rule, base: float, head: float, higher_is_better: bool = False) -> str | None:
    """ "regression" or "improvement" when head moved beyond the tolerance, else None."""
    worse_by = (base - head) if higher_is_better else (head - base)
    allowed = rule.tolerance.allowed_increase(base)
    if abs(worse_by) <= allowed or math.isclose(abs(worse_by), allowed, rel_tol=1e-12, abs_tol=0):
        return None
    return "regression" if worse_by > 0 else "improvement"


def _judge_measured(
    delta: QuantityDelta, quantity: str, base: Record, head: Record, rule: Rule, limit: str
) -> QuantityDelta:
    """Measured energy, emissions or CEGI: lowest repeats and a significance test."""
    assert delta.base is not None and delta.head is not None  # judge() checked both
    b_rep, h_rep = repeat_samples(base, quantity), repeat_samples(head, quantity)
    if b_rep is None or h_rep is None or min(len(b_rep.totals), len(h_rep.totals)) < MIN_REPEATS:
        delta.unrepeated = True
        counts = f"{len(b_rep.totals) if b_rep else 1} vs {len(h_rep.totals) if h_rep else 1} repeats"
        delta.reason = (
            f"{describe_change(quantity, delta.base, delta.head)} not gated: unrepeated ({counts}; a "
            f"measured figure needs at least {MIN_REPEATS} a side to tell a change from a busy neighbour: "
            f"--cegi-repeat 5 with cegi.repeated() or cegi.measure_call)"
        )
        return delta
    # Unequal counts (a pooled baseline, say): compare the expected lowest of the smaller
    # count, since the lowest of more repeats is lower by chance alone.
    n = min(len(b_rep.totals), len(h_rep.totals))
    b_low, h_low = b_rep.lowest(n), h_rep.lowest(n)
    delta.lowest = (b_low, h_low)
    counts = f"{len(b_rep.totals)} vs {len(h_rep.totals)} repeats"
    if len(b_rep.totals) != len(h_rep.totals):
        counts += f", expected lowest of {n}"
    change = describe_change(quantity, b_low, h_low).replace(f"{quantity} ", f"{quantity} (lowest of {counts}) ", 1)
    left_out = sorted(set(b_rep.left_out) | set(h_rep.left_out))
    if left_out:
        change += f"; {', '.join(left_out)} measured once, not gated"
    delta.detectable = stats.smallest_detectable_change(b_rep.totals, h_rep.totals)
    if delta.detectable is not None:
        change += f"; smallest detectable change ±{100 * delta.detectable:.1f}%"
    direction = _beyond(rule, b_low, h_low)
    if direction is None:
        delta.status, delta.reason = "unchanged", f"{change}, within {limit}"
        return delta
    went_up = direction == "regression"
    if went_up:
        delta.test = stats.mann_whitney_greater(b_rep.totals, h_rep.totals)
    else:  # test "base greater", reported with the counts the right way round
        t = stats.mann_whitney_greater(h_rep.totals, b_rep.totals)
        delta.test = stats.TestResult(t.p_value, t.u, t.n_head, t.n_base, t.method)
    verb = "exceeds" if went_up else "improves beyond"
    if not delta.test.significant:
        delta.status = "unchanged"
        delta.reason = f"{change} {verb} {limit} but is within noise: {delta.test.describe()}"
        return delta
    delta.status, delta.reason = direction, f"{change} {verb} {limit}; {delta.test.describe()}"
    return delta


def _why_missing(quantity: str, record: Record) -> str:
    if record.error:
        return f" (the test raised: {record.error})"
    if quantity == "cegi" and record.cegi_reason:
        return f" ({record.cegi_reason})"
    return ""


def format_value(quantity: str, value: float | None) -> str:
    if value is None:
        return "-"
    if quantity in ("emissions", "modelled_emissions"):
        return format_mass(value)
    if quantity in ("energy", "modelled_energy"):
        return format_energy(value)
    if quantity == "cost":
        return f"{value:.4g}"
    return f"{value:.4g}"


def format_delta(quantity: str, base: float | None, head: float | None) -> str:
    """ "+12.5%" for measured quantities, "-0.021" (absolute) for scores."""
    if base is None or head is None:
        return ""
    diff = head - base
    if diff == 0:
        return "±0"
    if quantity != "score" and base != 0:
        return f"{100 * diff / abs(base):+.1f}%"
    if quantity == "emissions":
        return ("+" if diff >= 0 else "-") + format_mass(abs(diff))
    if quantity == "energy":
        return ("+" if diff >= 0 else "-") + format_energy(abs(diff))
    return f"{diff:+.4g}"


def describe_change(quantity: str, base: float, head: float) -> str:
    return (
        f"{quantity} {format_value(quantity, base)} -> {format_value(quantity, head)} "
        f"({format_delta(quantity, base, head)})"
    )
