from decimal import Decimal

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics.numeric import extract_number, format_number


def extracted(text: str):
    value, _ = extract_number(text)
    return None if value is None else format_number(value)


@pytest.mark.parametrize(
    "text, number",
    [
        ("The answer is 42.", "42"),
        ("She pays $1,234.50 in total.", "1234.5"),
        ("1,234,567 grains", "1234567"),
        ("It costs 5.00 dollars", "5"),
        ("5.250", "5.25"),
        ("100", "100"),  # no exponent form ("1E+2")
        ("0.0", "0"),
        ("The temperature is -3 degrees", "-3"),
        ("a loss of -$5", "-5"),
        ("a loss of $-5", "-5"),
        ("\u22127 with a Unicode minus", "-7"),
        ("(-2) apples", "-2"),
        ("That is 50% of them", "50"),
        ("half a cup is .5 cups", "0.5"),
        ("pages 3-5", "5"),  # a range, not minus five
        ("10 - 4 = 6", "6"),
        ("10 - 4", "4"),  # subtraction: the sign is not the number's
        ("x2", "2"),
        ("first 3, then 4, finally 12", "12"),
        ("He has 1,23 apples", "23"),  # not a thousands grouping
    ],
)
def test_last_number_extraction(text, number):
    assert extracted(text) == number


@pytest.mark.parametrize(
    "text, number",
    [
        ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72", "72"),
        ("#### 1,000 then 7 more words", "1000"),  # the marker wins over the last number
        ("draft #### 3\nfinal answer #### 4", "4"),  # the last marker counts
        ("#### -$12.50", "-12.5"),
    ],
)
def test_marker_wins(text, number):
    assert extracted(text) == number


@pytest.mark.parametrize(
    "text, why",
    [
        ("no digits here", "no number in the text"),
        ("", "no number in the text"),
        ("it was 12 #### unknown", "no number after the '####' marker"),
    ],
)
def test_no_number_says_why(text, why):
    assert extract_number(text) == (None, why)


def test_score_and_details():
    preds = ["Step 1... #### 72", "so it is $1,234.00", "I am not sure", "The answer is 41."]
    refs = ["Natalia sold 48/2 = 24 clips in May.\n#### 72", 1234, "7", Decimal("42")]
    result = metrics.compute("numeric_accuracy", preds, refs)
    assert result.key == "numeric_accuracy" and result.value == pytest.approx(0.5)
    assert result.details["per_example"] == [1.0, 1.0, 0.0, 0.0]
    assert result.details["items"][1] == {"extracted": "1234", "reference": "1234", "correct": True}
    assert result.details["items"][2]["why"] == "no number in the text"
    assert result.details["items"][3]["extracted"] == "41"
    assert result.details["no_number"] == 1


def test_float_references_compare_exactly_as_written():
    assert metrics.compute("numeric_accuracy", ["0.1 + 0.2 = 0.3"], [0.3]).value == 1.0
    assert metrics.compute("numeric_accuracy", ["2.5"], [2.50]).value == 1.0
    assert metrics.compute("numeric_accuracy", ["2.51"], [2.5]).value == 0.0


def test_tolerance_is_opt_in():
    assert metrics.compute("numeric_accuracy", ["3.14"], ["3.14159"]).value == 0.0
    assert metrics.compute("numeric_accuracy", ["3.14"], ["3.14159"], tolerance=0.01).value == 1.0
    with pytest.raises(metrics.MetricError, match="tolerance"):
        metrics.compute("numeric_accuracy", ["1"], ["1"], tolerance=-1)
    with pytest.raises(metrics.MetricError, match="tolerance"):
        metrics.compute("numeric_accuracy", ["1"], ["1"], tolerance="lots")


@pytest.mark.parametrize(
    "preds, refs, message",
    [
        (["1"], ["no number at all"], "reference 0 has no number"),
        (["1"], [True], "bool"),
        (["1"], [float("nan")], "not finite"),
        (["1"], [[1]], "must be a number or a string"),
        ([1], ["1"], "prediction 0 must be a string"),
    ],
)
def test_bad_inputs(preds, refs, message):
    with pytest.raises(metrics.MetricError, match=message):
        metrics.compute("numeric_accuracy", preds, refs)
