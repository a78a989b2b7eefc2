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
(fine-tuning, a plain `with cegi.measure()` block) are gated against gross changes
only, by the wide single-sample tolerance (default +100%, i.e. 2x): one sample a side
cannot tell a 20 % change from a busy neighbour, but can tell a 3x one. Each phase is
judged on its own windows (judge/phases.py), so a repeated inference window is gated
by its repeats even beside a fine-tune measured once. benchmarks/scripts/gate_power.py
measures how often each rule cries wolf and how often it catches a known regression.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_cegi.core.meter_traits import traits_of
from pytest_cegi.core.quantities import QUANTITY, names
from pytest_cegi.core.record import Record
from pytest_cegi.core.run import SavedRecord
from pytest_cegi.core.tolerances import (
    DEFAULT_MAX_REGRESSION,
    DEFAULT_SINGLE_SAMPLE_TOLERANCE,
    REGRESSION_QUANTITIES,
    SINGLE_SAMPLE,
)
from pytest_cegi.core.units import Tolerance, format_energy, format_mass, parse_tolerance
from pytest_cegi.judge import stats
from pytest_cegi.judge.phases import PhaseSamples, phase_samples

QUANTITIES = REGRESSION_QUANTITIES
# Quantities derived from measured energy: noisy, and meaningless across machines.
ENERGY_DERIVED = names("measured")
# Modelled from counted work by a device profile: exact, judged by tolerance alone.
MODELLED = names("modelled")

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


DEFAULT_SINGLE_SAMPLE_RULE = Rule(parse_tolerance(DEFAULT_SINGLE_SAMPLE_TOLERANCE), DEFAULT_SOURCE)


def resolve_rules(tolerances: Tolerances, record: Record) -> dict[str, Rule | None]:
    """{quantity: Rule | None} for one record, plus SINGLE_SAMPLE: defaults, overridden
    by the caller's."""
    spec = tolerances(record) if callable(tolerances) else tolerances
    rules: dict[str, Rule | None] = {q: Rule(t, DEFAULT_SOURCE) for q, t in DEFAULT_TOLERANCES.items()}
    rules[SINGLE_SAMPLE] = DEFAULT_SINGLE_SAMPLE_RULE
    for quantity, value in (spec or {}).items():
        if quantity not in rules:
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
    # measured, fewer than MIN_REPEATS repeats a side (in some phase): judged by the
    # single-sample rule, which catches gross changes only
    unrepeated: bool = False
    detectable: float | None = None  # smallest relative change the repeats could detect
    # (baseline, head) lowest repeats: what a repeated measured quantity was judged on
    lowest: tuple[float, float] | None = None
    # the phase whose rule decided, when the record has more than one (each is judged apart)
    phase: str | None = None
    # (baseline, head) figures the deciding rule compared, where not the record totals:
    # a phase's lowest repeats, or a phase's figure measured once
    judged: tuple[float, float] | None = None

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
            "judged": list(self.judged) if self.judged else None,
            "phase": self.phase,
        }


# The fewest repeats a side with which the significance test can reach ALPHA at all
# (2 vs 2: the smallest p is 1/6), so with which a measured quantity is gated: 3.
MIN_REPEATS = next(n for n in range(1, 100) if stats.can_reach_significance(n, n))


def is_deterministic(record: Record) -> bool:
    """Figures the same on every run of the same code (core/meter_traits.py): their energy
    is judged like cost, by tolerance alone, repeated or not."""
    method = record.method
    return method is not None and traits_of(method.meter).deterministic


def judge(
    quantity: str,
    base_saved: SavedRecord,
    head_saved: SavedRecord,
    rule: Rule | None,
    refused: str | None = None,
    single: Rule | None = None,
) -> QuantityDelta:
    """Compare one quantity; `refused` names why it must not be compared, `single` is the
    single-sample rule for measured figures with too few repeats (default: +100%).

    The figures compared are the stored ones (`SavedRecord.figure`), the same the
    reports show; the records give the windows, phases and configuration."""
    b, h = base_saved.figure(quantity), head_saved.figure(quantity)
    base, head = base_saved.record, head_saved.record
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
    judged = QUANTITY[quantity].judged
    if judged == "counted":
        b_basis, h_basis = (base.cost() or (0, ""))[1], (head.cost() or (0, ""))[1]
        if b_basis != h_basis:
            delta.reason = f"cost not compared: baseline counted {b_basis}, this run {h_basis}"
            return delta
    if judged == "modelled" and base.modelled_by != head.modelled_by:
        delta.reason = (
            f"{quantity} not compared: baseline {base.modelled_by}, this run {head.modelled_by} "
            f"(modelled figures compare only under one profile)"
        )
        return delta
    if judged == "modelled" and base.modelled_basis != head.modelled_basis:
        delta.reason = (
            f"{quantity} not compared: baseline modelled {base.modelled_basis}, this run {head.modelled_basis}"
        )
        return delta
    if judged == "measured" and not (is_deterministic(base) and is_deterministic(head)):
        return _judge_measured(delta, quantity, base, head, rule, single or DEFAULT_SINGLE_SAMPLE_RULE)
    limit = f"tolerance {rule.tolerance.text} ({rule.source})"

    higher_is_better = judged == "score" and head.higher_is_better
    change = describe_change(quantity, b, h)
    if judged == "counted":
        change += f" [{(head.cost() or (0, ''))[1]}]"
    elif judged == "modelled":
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


@dataclass
class _PhaseVerdict:
    """One phase of a measured quantity, judged by its own rule."""

    phase: str
    status: str  # "regression", "improvement" or "unchanged"
    reason: str
    rule: Rule
    single: bool  # judged by the single-sample rule (fewer than MIN_REPEATS repeats a side)
    test: stats.TestResult | None = None
    lowest: tuple[float, float] | None = None
    detectable: float | None = None
    judged: tuple[float, float] | None = None


def _judge_measured(
    delta: QuantityDelta, quantity: str, base: Record, head: Record, rule: Rule, single: Rule
) -> QuantityDelta:
    """Measured energy, emissions or CEGI, phase by phase: repeated phases by their lowest
    repeats and a significance test, phases measured once by the single-sample rule."""
    assert delta.base is not None and delta.head is not None  # judge() checked both
    gross = _gross_rule(rule, single)
    b_phases, h_phases = phase_samples(base, quantity), phase_samples(head, quantity)
    if b_phases is None or h_phases is None or set(b_phases) != set(h_phases):
        # Phases came or went (or a window read 0): only the totals compare, by the wide rule.
        b_all, h_all = PhaseSamples("all phases", delta.base), PhaseSamples("all phases", delta.head)
        verdicts = [_judge_once(quantity, b_all, h_all, gross)]
        if b_phases is not None and h_phases is not None:
            verdicts[0].reason += f" (phases differ: baseline {', '.join(b_phases)}; this run {', '.join(h_phases)})"
    else:
        verdicts = [_judge_phase(quantity, b_phases[p], h_phases[p], rule, gross) for p in b_phases]
    decisive = next(
        (v for status in ("regression", "improvement") for v in verdicts if v.status == status),
        next((v for v in verdicts if not v.single), verdicts[0]),
    )
    several = len(verdicts) > 1
    delta.status = decisive.status
    delta.reason = "; ".join(f"{v.phase}: {v.reason}" if several else v.reason for v in verdicts)
    delta.rule, delta.test, delta.lowest = decisive.rule, decisive.test, decisive.lowest
    delta.detectable = decisive.detectable
    delta.judged = decisive.judged  # what the deciding rule compared (lowest, or a phase's figure)
    delta.phase = decisive.phase if several else None
    delta.unrepeated = any(v.single for v in verdicts)
    return delta


def _gross_rule(rule: Rule, single: Rule) -> Rule:
    """The rule for a figure measured once: the wider of the quantity's own tolerance
    and the single-sample tolerance, so a single sample is never judged tighter."""
    own, wide = rule.tolerance, single.tolerance
    if own.relative == wide.relative and own.value >= wide.value:
        return rule
    return Rule(wide, f"single-sample tolerance, {single.source}")


def _judge_phase(quantity: str, base: PhaseSamples, head: PhaseSamples, rule: Rule, gross: Rule) -> _PhaseVerdict:
    if min(base.repeats, head.repeats) < MIN_REPEATS:
        return _judge_once(quantity, base, head, gross)
    # Unequal counts (a pooled baseline, say): compare the expected lowest of the smaller
    # count, since the lowest of more repeats is lower by chance alone.
    n = min(base.repeats, head.repeats)
    b_low, h_low = base.lowest(n), head.lowest(n)
    counts = f"{base.repeats} vs {head.repeats} repeats"
    if base.repeats != head.repeats:
        counts += f", expected lowest of {n}"
    change = describe_change(quantity, b_low, h_low).replace(f"{quantity} ", f"{quantity} (lowest of {counts}) ", 1)
    verdict = _PhaseVerdict(base.phase, "unchanged", "", rule, single=False, lowest=(b_low, h_low))
    verdict.judged = (b_low, h_low)
    verdict.detectable = stats.smallest_detectable_change(list(base.totals), list(head.totals))
    if verdict.detectable is not None:
        change += f"; smallest detectable change ±{100 * verdict.detectable:.1f}%"
    limit = f"tolerance {rule.tolerance.text} ({rule.source})"
    direction = _beyond(rule, b_low, h_low)
    if direction is None:
        verdict.reason = f"{change}, within {limit}"
        return verdict
    went_up = direction == "regression"
    if went_up:
        verdict.test = stats.mann_whitney_greater(list(base.totals), list(head.totals))
    else:  # test "base greater", reported with the counts the right way round
        t = stats.mann_whitney_greater(list(head.totals), list(base.totals))
        verdict.test = stats.TestResult(t.p_value, t.u, t.n_head, t.n_base, t.method)
    verb = "exceeds" if went_up else "improves beyond"
    if not verdict.test.significant:
        verdict.reason = f"{change} {verb} {limit} but is within noise: {verdict.test.describe()}"
        return verdict
    verdict.status, verdict.reason = direction, f"{change} {verb} {limit}; {verdict.test.describe()}"
    return verdict


def _judge_once(quantity: str, base: PhaseSamples, head: PhaseSamples, gross: Rule) -> _PhaseVerdict:
    """Too few repeats to tell a change from a busy neighbour: catch gross changes only.

    A relative tolerance t is applied as a ratio both ways (beyond 1 + t up is a
    regression, beyond 1 / (1 + t) down an improvement), so "+100%" means "2x either way".
    """
    n = min(base.repeats, head.repeats)
    b_val = base.lowest(n) if base.totals else base.figure
    h_val = head.lowest(n) if head.totals else head.figure
    counts = f"{base.repeats} vs {head.repeats} samples"
    change = describe_change(quantity, b_val, h_val).replace(f"{quantity} ", f"{quantity} ({counts}) ", 1)
    limit = f"{gross.tolerance.text} ({gross.source})"
    direction = _beyond(gross, b_val, h_val)
    tol = gross.tolerance
    if direction is None and tol.relative and h_val * (1 + tol.value) < b_val:
        direction = "improvement"  # below the ratio 1 / (1 + t)
    verdict = _PhaseVerdict(base.phase, direction or "unchanged", "", gross, single=True, judged=(b_val, h_val))
    hint = f"fewer than {MIN_REPEATS} repeats a side: gated against gross changes only"
    if direction is None:
        verdict.reason = f"{change}, within {limit}; {hint}"
    else:
        verb = "exceeds" if direction == "regression" else "improves beyond"
        verdict.reason = f"{change} {verb} {limit}; {hint}"
    return verdict


def _why_missing(quantity: str, record: Record) -> str:
    if record.error:
        return f" (the test raised: {record.error})"
    if quantity == "cegi" and record.cegi_reason:
        return f" ({record.cegi_reason})"
    return ""


def format_value(quantity: str, value: float | None) -> str:
    return QUANTITY[quantity].format(value)


def format_delta(quantity: str, base: float | None, head: float | None) -> str:
    """ "+12.5%" for measured quantities, "-0.021" (absolute) for scores."""
    if base is None or head is None:
        return ""
    diff = head - base
    if diff == 0:
        return "±0"
    q = QUANTITY[quantity]
    if q.judged != "score" and base != 0:
        return f"{100 * diff / abs(base):+.1f}%"
    # from a zero base: a measured figure's change in its unit, others as a number
    if q.judged == "measured" and q.unit == "mass":
        return ("+" if diff >= 0 else "-") + format_mass(abs(diff))
    if q.judged == "measured" and q.unit == "energy":
        return ("+" if diff >= 0 else "-") + format_energy(abs(diff))
    return f"{diff:+.4g}"


def describe_change(quantity: str, base: float, head: float) -> str:
    return (
        f"{quantity} {format_value(quantity, base)} -> {format_value(quantity, head)} "
        f"({format_delta(quantity, base, head)})"
    )
