"""CEGI arithmetic (CEGI = E / (dP x T_M)) against hand-computed values."""

import math

import pytest

from pytest_cegi.core.formula import Outcome, carbon_per_gain, cegi, gain_pct


def test_relative_gain_is_percent_of_reference():
    # (0.6 - 0.5) / 0.5 = 20 %
    assert gain_pct(0.6, 0.5).value == pytest.approx(20.0)


def test_relative_gain_uses_absolute_reference():
    # reference -2, score -1: (-1 - -2) / |-2| = +50 %
    assert gain_pct(-1.0, -2.0).value == pytest.approx(50.0)


def test_points_gain_is_difference_times_100():
    assert gain_pct(0.62, 0.50, mode="points").value == pytest.approx(12.0)


def test_lower_is_better_flips_sign():
    # perplexity 8 vs reference 10: 20 % better
    assert gain_pct(8.0, 10.0, higher_is_better=False).value == pytest.approx(20.0)
    assert gain_pct(12.0, 10.0, higher_is_better=False).value == pytest.approx(-20.0)
    assert gain_pct(0.2, 0.3, mode="points", higher_is_better=False).value == pytest.approx(10.0)


def test_zero_reference_relative_is_undefined_and_suggests_points():
    out = gain_pct(0.4, 0.0)
    assert out.value is None and "points" in out.reason


def test_zero_reference_points_is_fine():
    assert gain_pct(0.4, 0.0, mode="points").value == pytest.approx(40.0)


def test_unknown_gain_mode_is_an_error():
    with pytest.raises(ValueError, match="relative, points"):
        gain_pct(1, 1, mode="ratio")


@pytest.mark.parametrize("score, ref", [(None, 0.5), (0.5, None), (math.nan, 0.5), (0.5, math.inf)])
def test_missing_scores_are_undefined(score, ref):
    assert gain_pct(score, ref).value is None


def test_cegi_hand_computed():
    # E = 2e-3 kg, dP = 20 %, T_M = 0.5 M params -> 2e-3 / (20 * 0.5) = 2e-4
    assert cegi(2e-3, Outcome(20.0), 500_000).value == pytest.approx(2e-4)


def test_cegi_paper_scale_example():
    # 0.011 kg over a 4.2 % gain with a 1.57 M-parameter adapter
    assert cegi(0.011, Outcome(4.2), 1_570_000).value == pytest.approx(0.011 / (4.2 * 1.57))


@pytest.mark.parametrize("gain", [0.0, -3.0])
def test_no_gain_is_undefined(gain):
    out = cegi(1e-3, Outcome(gain), 1000)
    assert out.value is None and "no gain" in out.reason


@pytest.mark.parametrize("gain", [Outcome(5.0), Outcome(-2.0), Outcome(None, "no reference score")])
def test_nothing_trained_is_not_applicable(gain):
    """T_M = 0 (a model used as is): not applicable, whatever the gain; not "undefined"."""
    out = cegi(1e-3, gain, 0)
    assert out.value is None and not out.applicable and out.reason == "n/a (nothing trained)"


def test_trained_variant_without_gain_stays_applicable():
    out = cegi(1e-3, Outcome(0.0), 1000)
    assert out.value is None and out.applicable and "no gain" in out.reason


def test_points_gain_reason_says_points():
    out = cegi(1e-3, Outcome(-1.5), 1000, gain_mode="points")
    assert "-1.5 pts" in out.reason and "%" not in out.reason


def test_unknown_trainable_params_is_undefined():
    out = cegi(1e-3, Outcome(5.0), None)
    assert out.value is None and "trainable" in out.reason


def test_undefined_gain_propagates_its_reason():
    out = cegi(1e-3, gain_pct(0.4, 0.0), 1000)
    assert out.value is None and "points" in out.reason


def test_carbon_per_gain():
    assert carbon_per_gain(3e-3, Outcome(15.0)).value == pytest.approx(2e-4)
    assert carbon_per_gain(3e-3, Outcome(0.0)).value is None
