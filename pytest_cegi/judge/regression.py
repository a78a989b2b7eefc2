"""Regression rules: judge one quantity of one test against its baseline.

A quantity regresses when it got worse by more than its tolerance and, where
both runs stored per-repeat samples (`--cegi-repeat N`), the change is also
significant (one-sided Mann-Whitney U, see stats.py); such comparisons also say
the smallest change they could have detected. With single samples the tolerance
alone decides and the result says it was unrepeated.
Scores (greedy decoding) and cost (FLOPs or tokens, counted) are deterministic, so
they are judged by tolerance alone; cost is comparable across machines.
"""

from __future__ import annotations

import math
import statistics
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
    status: str  # "regression", "improvement", "unchanged", "not compared"
    reason: str  # one line a reviewer can act on
    test: stats.TestResult | None = None
    unrepeated: bool = False  # judged on single samples (tolerance alone)
    detectable: float | None = None  # smallest relative change the repeats could detect

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
        }


def value_of(record: Record, quantity: str) -> float | None:
    if quantity == "score":
        return record.score
    if quantity == "cost":
        cost = record.cost()
        return None if cost is None else float(cost[0])
    if quantity == "cegi":
        return record.cegi
    if not record.measured:
        return None
    return record.emissions_kg if quantity == "emissions" else record.energy_kwh


def repeat_samples(record: Record, quantity: str) -> list[float] | None:
    """Per-repeat totals of an energy-derived quantity, or None if unrepeated.

    Windows without samples (e.g. a fine-tuning run done once) add their fixed
    value to every repeat. Samples are scaled so they average to the window's
    own figure, whichever way the meter aggregates repeats (mean or sum).
    """
    if quantity not in ENERGY_DERIVED:
        return None
    windows = record.counted_windows()
    repeated = [w for w in windows if len(w.samples) >= 2]
    if not repeated:
        return None
    n = min(len(w.samples) for w in repeated)  # unequal counts: use the common repeats
    field = "energy_kwh" if quantity == "energy" else "emissions_kg"
    fixed = sum(getattr(w, field) for w in windows if len(w.samples) < 2)
    totals = [fixed] * n
    for w in repeated:
        mean = sum(w.samples) / len(w.samples)
        if mean <= 0:
            return None
        scale = getattr(w, field) / mean
        # strict=False: a window with more samples than `n` contributes its first n
        totals = [t + s * scale for t, s in zip(totals, w.samples, strict=False)]
    if quantity == "cegi":
        # CEGI = E / (dP * T_M): the noise is all in E, so scale E's samples.
        if record.cegi is None or not record.emissions_kg:
            return None
        totals = [t * record.cegi / record.emissions_kg for t in totals]
    return totals


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
    if b is None or h is None:
        missing = "baseline" if b is None else "this run"
        delta.reason = f"{quantity} not available in {missing}" + _why_missing(quantity, base if b is None else head)
        return delta

    if quantity == "cost":
        b_basis, h_basis = (base.cost() or (0, ""))[1], (head.cost() or (0, ""))[1]
        if b_basis != h_basis:
            delta.reason = f"cost not compared: baseline counted {b_basis}, this run {h_basis}"
            return delta

    higher_is_better = quantity == "score" and head.higher_is_better
    base_samples, head_samples = repeat_samples(base, quantity), repeat_samples(head, quantity)
    # Repeated windows are judged by their medians: interference from other work only
    # ever adds cost, so a single disturbed repeat must not move the verdict.
    b_typ, h_typ = (
        (statistics.median(base_samples), statistics.median(head_samples)) if base_samples and head_samples else (b, h)
    )
    worse_by = (b_typ - h_typ) if higher_is_better else (h_typ - b_typ)
    allowed = rule.tolerance.allowed_increase(b_typ)
    change = describe_change(quantity, b_typ, h_typ)
    if quantity == "cost":
        change += f" [{(head.cost() or (0, ''))[1]}]"
    limit = f"tolerance {rule.tolerance.text} ({rule.source})"
    if base_samples and head_samples:
        change = change.replace(f"{quantity} ", f"{quantity} (median of repeats) ", 1)
        delta.detectable = stats.smallest_detectable_change(base_samples, head_samples)
        if delta.detectable is not None:
            change += f"; smallest detectable change ±{100 * delta.detectable:.1f}%"
    if abs(worse_by) <= allowed or math.isclose(abs(worse_by), allowed, rel_tol=1e-12, abs_tol=0):
        delta.status, delta.reason = "unchanged", f"{change}, within {limit}"
        return delta
    direction = "regression" if worse_by > 0 else "improvement"
    verb = "exceeds" if direction == "regression" else "improves beyond"

    if base_samples and head_samples and stats.can_reach_significance(len(base_samples), len(head_samples)):
        # Test in the direction of the change: "head greater" unless it went down.
        went_up = h_typ > b_typ
        test = (
            stats.mann_whitney_greater(base_samples, head_samples)
            if went_up
            else stats.mann_whitney_greater(head_samples, base_samples)
        )
        if went_up:
            delta.test = test
        else:  # report the counts the right way round
            delta.test = stats.TestResult(test.p_value, test.u, test.n_head, test.n_base, test.method)
        if not test.significant:
            delta.status = "unchanged"
            delta.reason = f"{change} {verb} {limit} but is within noise: {delta.test.describe()}"
            return delta
        delta.status, delta.reason = direction, f"{change} {verb} {limit}; {delta.test.describe()}"
        return delta

    delta.unrepeated = quantity in ENERGY_DERIVED
    note = ""
    if delta.unrepeated:
        if base_samples and head_samples:
            note = (
                f"; only {len(base_samples)} vs {len(head_samples)} repeats, too few for a "
                f"significance test, so tolerance alone"
            )
        else:
            note = "; unrepeated (single samples: tolerance alone)"
    delta.status, delta.reason = direction, f"{change} {verb} {limit}{note}"
    return delta


def _why_missing(quantity: str, record: Record) -> str:
    if quantity == "cegi" and record.cegi_reason:
        return f" ({record.cegi_reason})"
    return ""


def format_value(quantity: str, value: float | None) -> str:
    if value is None:
        return "-"
    if quantity == "emissions":
        return format_mass(value)
    if quantity == "energy":
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
