"""The duet comparison's arithmetic on recorded samples (judge/duet.py, report/duet.py)."""

import math

import pytest

from pytest_cegi.core.run import Run
from pytest_cegi.core.units import parse_tolerance
from pytest_cegi.judge.duet import MIN_PAIRS, bootstrap_interval, compare_duet, judge_pairs
from pytest_cegi.report.duet import duet_markdown

TEN = parse_tolerance("10%")


def test_bootstrap_interval_is_reproducible_and_brackets_the_mean():
    logs = [math.log(x) for x in (1.02, 0.97, 1.05, 1.01, 0.99, 1.03)]
    lo, hi = bootstrap_interval(logs)
    assert (lo, hi) == bootstrap_interval(logs)  # seeded: a verdict never changes on a re-read
    mean = sum(logs) / len(logs)
    assert min(logs) <= lo < mean < hi <= max(logs)


def test_ratio_is_the_geometric_mean_of_the_paired_ratios():
    pairs = [(1.0, 1.3), (2.0, 2.6), (0.5, 0.65), (1.5, 1.95)]  # every pair +30 %
    status, ratio, lo, hi, reason = judge_pairs(pairs, TEN)
    assert ratio == pytest.approx(1.3) and lo == pytest.approx(1.3) and hi == pytest.approx(1.3)
    assert status == "regression" and "exceeds tolerance 10%" in reason and "4 pairs" in reason


def test_shared_disturbance_cancels_in_the_pairs():
    # Both sides slowed alike by a burst on repeats 2 and 3: each pair's ratio stays ~1,
    # though the head's samples vary by 60 %.
    base = [1.00, 1.60, 1.55, 1.01, 0.99]
    head = [b * f for b, f in zip(base, (1.01, 0.99, 1.02, 1.00, 0.98), strict=True)]
    status, ratio, *_ = judge_pairs(list(zip(base, head, strict=True)), TEN)
    assert status == "unchanged" and ratio == pytest.approx(1.0, abs=0.02)


def test_a_change_beyond_the_tolerance_whose_interval_reaches_one_is_unchanged():
    pairs = [(1.0, 1.6), (1.0, 0.9), (1.0, 1.5), (1.0, 0.95)]  # mean ratio ~1.2, but two pairs below 1
    status, ratio, lo, _, reason = judge_pairs(pairs, TEN)
    assert ratio > 1.1 and lo < 1 and status == "unchanged" and "interval reaches 1" in reason


def test_improvement_is_the_mirror_case():
    status, ratio, *_ = judge_pairs([(1.0, 0.7), (1.1, 0.78), (0.9, 0.62)], TEN)
    assert status == "improvement" and ratio < 1 / 1.1


def test_too_few_pairs_are_not_compared():
    status, ratio, *_, reason = judge_pairs([(1.0, 3.0)] * (MIN_PAIRS - 1), TEN)
    assert status == "not compared" and ratio is None and f"needs {MIN_PAIRS}" in reason


def test_absolute_tolerances_are_refused():
    with pytest.raises(ValueError, match="relative tolerance"):
        judge_pairs([(1.0, 1.0)] * 3, parse_tolerance("0.01"))


def _duet_runs(make, base_samples, head_samples, together=(5, 5), finetune=None):
    def side(samples, n):
        record = make.record("lora", samples=samples, finetune=finetune)
        record["windows"][-1]["details"] = {"duet": {"role": "x", "repeats_together": n}}
        return Run.from_dict(make.run([record], repeat=len(samples)))

    return side(base_samples, together[0]), side(head_samples, together[1])


def test_compare_duet_pairs_repeats_by_position_and_skips_windows_measured_once(make):
    base = [1.0e-4, 1.5e-4, 1.1e-4, 1.0e-4, 1.2e-4]
    base_run, head_run = _duet_runs(make, base, [1.25 * b for b in base], finetune=5e-3)
    (result,) = compare_duet(base_run, head_run, "10%")
    assert result.pairs == 5 and result.ratio == pytest.approx(1.25)
    assert result.status == "regression" and result.apart == 0


def test_compare_duet_says_when_repeats_ran_apart(make):
    base = [1.0e-4] * 5
    base_run, head_run = _duet_runs(make, base, base, together=(5, 3))
    (result,) = compare_duet(base_run, head_run, "10%")
    assert result.status == "unchanged" and result.apart == 2 and "2 of the pairs ran apart" in result.reason


def test_duet_markdown_lists_regressions_first_and_says_why_it_is_advisory(make):
    base = [1.0e-4, 1.02e-4, 0.98e-4]
    slower = _duet_runs(make, base, [2 * b for b in base])
    same = _duet_runs(make, base, base)
    results = compare_duet(*same, "10%") + compare_duet(*slower, "10%")
    text = duet_markdown(results, "10%", gating=False, why="Advisory: measured rates miss the targets.")
    assert "(advisory)" in text and "Advisory: measured rates miss the targets." in text
    rows = [line for line in text.splitlines() if line.startswith("| sql /")]
    assert rows[0].endswith("regression 🔴 |") and rows[1].endswith("unchanged |")
    assert "1 regression(s) in 2 tests" in text
