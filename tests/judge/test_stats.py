"""The Mann-Whitney U test: known values, and agreement with scipy where installed."""

import random

import pytest

from pytest_cegi.judge import stats


def test_complete_separation_three_a_side_is_exactly_one_in_twenty():
    result = stats.mann_whitney_greater([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert result.method == "exact"
    assert result.u == 9
    assert result.p_value == pytest.approx(1 / 20)
    assert result.significant


def test_no_difference_is_not_significant():
    result = stats.mann_whitney_greater([1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 6.0, 8.0])
    assert not result.significant


def test_direction_matters():
    low, high = [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]
    assert stats.mann_whitney_greater(low, high).significant
    assert stats.mann_whitney_greater(high, low).p_value == pytest.approx(1.0)


def test_two_repeats_a_side_can_never_be_significant():
    assert stats.smallest_p(2, 2) == pytest.approx(1 / 6)
    assert not stats.can_reach_significance(2, 2)
    assert stats.can_reach_significance(3, 3)


def test_identical_values_give_no_evidence():
    assert stats.mann_whitney_greater([1.0] * 5, [1.0] * 5).p_value == 1.0


def test_empty_sample_is_an_error():
    with pytest.raises(ValueError):
        stats.mann_whitney_greater([], [1.0])


@pytest.mark.parametrize("m,n", [(3, 3), (5, 5), (4, 9), (12, 15), (30, 30)])
def test_agrees_with_scipy(m, n):
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = random.Random(m * 100 + n)
    for _ in range(5):
        base = [rng.gauss(1.0, 0.2) for _ in range(m)]
        head = [rng.gauss(1.2, 0.2) for _ in range(n)]
        ours = stats.mann_whitney_greater(base, head)
        method = "exact" if ours.method == "exact" else "asymptotic"
        theirs = scipy_stats.mannwhitneyu(head, base, alternative="greater", method=method)
        assert ours.u == theirs.statistic
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


def test_ties_use_the_corrected_normal_approximation():
    scipy_stats = pytest.importorskip("scipy.stats")
    base, head = [1, 2, 2, 3, 3], [2, 3, 4, 4, 5]
    ours = stats.mann_whitney_greater(base, head)
    assert ours.method == "normal approximation"
    theirs = scipy_stats.mannwhitneyu(head, base, alternative="greater", method="asymptotic")
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_expected_lowest_matches_every_subset(n):
    import itertools
    import statistics

    samples = [3.0, 1.0, 4.0, 1.5, 9.0]
    brute = statistics.fmean(min(c) for c in itertools.combinations(samples, n))
    assert stats.expected_lowest(samples, n) == pytest.approx(brute)


def test_expected_lowest_of_all_is_the_minimum_and_of_one_the_mean():
    samples = [2.0, 5.0, 3.0]
    assert stats.expected_lowest(samples, 3) == 2.0
    assert stats.expected_lowest(samples, 1) == pytest.approx(10 / 3)
    with pytest.raises(ValueError, match="between 1 and 3"):
        stats.expected_lowest(samples, 4)
