"""Duet comparison: base and head measured side by side, judged on paired ratios.

In a duet run (measure/duet.py) repeat i of a test ran on both sides at the same
moment, so whatever disturbed it (a neighbour's burst, a frequency drop) disturbed
both. The ratio head_i / base_i cancels that shared part; what is left is the change
plus the two sides' own noise. Per test, the estimate is the geometric mean of the
paired ratios, with a percentile bootstrap confidence interval over the pairs
(resampled with a fixed seed, so the same runs always give the same verdict).

A test regresses when the estimate exceeds 1 + tolerance *and* the interval's lower
bound is above 1 (the change is beyond the tolerance and not chance); it improves
in the mirror case. Fewer than MIN_PAIRS pairs are "not compared".

This is arithmetic on two saved runs; benchmarks/scripts/ab_energy.py --duet runs
them and gate_power.py --duet measures how often this rule errs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_cegi.core.record import Record
from pytest_cegi.core.run import Run
from pytest_cegi.core.units import Tolerance, parse_tolerance

MIN_PAIRS = 3
CONFIDENCE = 0.90  # two-sided, so each bound is a one-sided 95 % bound
RESAMPLES = 4000
SEED = 20200405  # fixed: a verdict must not change between two readings of the same runs


@dataclass(frozen=True)
class DuetResult:
    """One test of a duet: its paired ratios and the verdict on them."""

    nodeid: str
    task: str
    variant: str
    pairs: int
    ratio: float | None  # geometric mean of head/base over the pairs
    low: float | None  # confidence interval of the ratio
    high: float | None
    status: str  # "regression", "improvement", "unchanged", "not compared"
    reason: str
    apart: int = 0  # pairs whose two repeats were not measured together

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def bootstrap_interval(
    log_ratios: Sequence[float], confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `log_ratios` (resampling the pairs)."""
    n = len(log_ratios)
    if n == 0:
        raise ValueError("bootstrap_interval needs at least one pair")
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(log_ratios) for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    return means[int(tail * (resamples - 1))], means[math.ceil((1 - tail) * (resamples - 1))]


def paired_totals(base: Record, head: Record) -> tuple[list[tuple[float, float]], int]:
    """(base, head) energy per repeat, summed over the windows both records repeated in
    the same order and phase, and how many of those repeats ran apart (not in step)."""
    pairs: list[tuple[float, float]] | None = None
    apart = 0
    for b, h in zip(base.counted_windows(), head.counted_windows(), strict=False):
        if b.phase != h.phase or len(b.samples) < 2 or len(h.samples) < 2:
            continue
        n = min(len(b.samples), len(h.samples))
        window_pairs = list(zip(b.samples[:n], h.samples[:n], strict=True))
        pairs = (
            window_pairs
            if pairs is None
            else [(pb + wb, ph + wh) for (pb, ph), (wb, wh) in zip(pairs, window_pairs, strict=False)]
        )
        together = [w.details.get("duet", {}).get("repeats_together") for w in (b, h)]
        apart = max(apart, *(n - t if isinstance(t, int) else n for t in together))
    return pairs or [], apart


def judge_pairs(
    pairs: Sequence[tuple[float, float]], tolerance: Tolerance
) -> tuple[str, float | None, float | None, float | None, str]:
    """(status, ratio, low, high, reason) for one test's paired repeats."""
    usable = [(b, h) for b, h in pairs if b > 0 and h > 0]
    if len(usable) < MIN_PAIRS:
        return "not compared", None, None, None, f"{len(usable)} paired repeats; the duet needs {MIN_PAIRS}"
    logs = [math.log(h / b) for b, h in usable]
    ratio = math.exp(sum(logs) / len(logs))
    lo, hi = (math.exp(x) for x in bootstrap_interval(logs))
    limit = 1 + tolerance.value if tolerance.relative else None
    if limit is None:
        raise ValueError(f"the duet judges ratios: give a relative tolerance such as '10%', got {tolerance.text!r}")
    change = f"head/base {ratio:.3f} ({CONFIDENCE:.0%} CI {lo:.3f}-{hi:.3f}, {len(usable)} pairs)"
    if ratio > limit and lo > 1:
        return "regression", ratio, lo, hi, f"{change} exceeds tolerance {tolerance.text}"
    if ratio < 1 / limit and hi < 1:
        return "improvement", ratio, lo, hi, f"{change} improves beyond tolerance {tolerance.text}"
    noise = " but the interval reaches 1" if (ratio > limit or ratio < 1 / limit) else ""
    return "unchanged", ratio, lo, hi, f"{change} within tolerance {tolerance.text}{noise}"


def compare_duet(base: Run, head: Run, tolerance: Tolerance | str = "10%") -> list[DuetResult]:
    """Every test both runs measured, by node id, judged on its paired repeats."""
    tol = tolerance if isinstance(tolerance, Tolerance) else parse_tolerance(tolerance)
    heads = {saved.nodeid: saved.record for saved in head.records}
    out = []
    for saved in base.records:
        twin = heads.get(saved.nodeid)
        if twin is None:
            continue
        pairs, apart = paired_totals(saved.record, twin)
        status, ratio, lo, hi, reason = judge_pairs(pairs, tol)
        if apart:
            reason += f"; {apart} of the pairs ran apart (not in step)"
        out.append(DuetResult(saved.nodeid, twin.task, twin.variant, len(pairs), ratio, lo, hi, status, reason, apart))
    return out
