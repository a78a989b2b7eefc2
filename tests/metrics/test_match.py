import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics.text import normalize_squad, normalize_vqa, split_sentences


def test_exact_match_squad_normalisation():
    preds = ["The Eiffel Tower!", "paris", "an apple", "London"]
    refs = ["eiffel tower", "Paris.", "apple", "Londres"]
    result = metrics.compute("exact_match", preds, refs)
    assert result.value == pytest.approx(3 / 4)
    assert result.details["per_example"] == [1.0, 1.0, 1.0, 0.0]


def test_exact_match_other_normalisations():
    assert metrics.compute("exact_match", ["The Cat"], ["the  cat "], normalize="basic").value == 1.0
    assert metrics.compute("exact_match", ["The Cat"], ["the cat"], normalize="none").value == 0.0
    assert metrics.compute("exact_match", ["42 "], ["42"], normalize=str.strip).value == 1.0
    with pytest.raises(metrics.MetricError, match="unknown normalize"):
        metrics.compute("exact_match", ["a"], ["a"], normalize="fuzzy")


def test_exact_match_any_of_several_references():
    result = metrics.compute("exact_match", ["NYC", "LA"], [["New York", "nyc"], ["Los Angeles"]])
    assert result.value == pytest.approx(0.5)


def test_accuracy_labels_and_strings():
    assert metrics.compute("accuracy", [1, 0, 1, 1], [1, 1, 1, 0]).value == pytest.approx(0.5)
    # strings: case-folded and trimmed, but punctuation matters
    result = metrics.compute("accuracy", ["Positive ", "negative", "neutral."], ["positive", "NEGATIVE", "neutral"])
    assert result.value == pytest.approx(2 / 3)


def test_normalisers_documented_behaviour():
    assert normalize_squad("  The  quick, brown fox. ") == "quick brown fox"
    assert normalize_vqa("Two dogs.") == "2 dogs"
    assert normalize_vqa("1,000") == "1000"
    assert normalize_vqa("2.5") == "2.5"
    assert normalize_vqa("a red/white flag") == "red white flag"
    assert normalize_vqa("a red-white flag") == "red white flag"  # "-" is a VQA mark
    assert normalize_vqa("dont") == "don't"
    assert split_sentences("One. Two! Three? four") == ["One.", "Two!", "Three?", "four"]
    assert split_sentences("line one\nline two.") == ["line one", "line two."]
    assert split_sentences("One. Two\nthree") == ["One.", "Two", "three"]


def test_vqa_accuracy_hand_worked():
    ten_humans = ["2", "2", "two", "3", "3", "3", "3", "2 ", "several", "4"]
    # Official leave-one-out average of min(matches among the other 9 / 3, 1):
    # "2" matches 4 humans -> 1; "3" matches 4 -> 1; "4" matches 1 -> 9 * (1/3) / 10 = 0.3;
    # "several" 1 -> 0.3; "5" none -> 0
    preds = ["2", "three", "4", "Several.", "5"]
    result = metrics.compute("vqa_accuracy", preds, [ten_humans] * 5)
    assert result.details["per_example"] == pytest.approx([1.0, 1.0, 0.3, 0.3, 0.0])
    assert result.value == pytest.approx((1 + 1 + 0.3 + 0.3) / 5)


def test_vqa_accuracy_two_of_three_is_four_ninths():
    # Leaving out either "yes" leaves 1 match (1/3), leaving out "no" leaves 2 (2/3).
    assert metrics.compute("vqa_accuracy", ["yes"], [["yes", "Yes", "no"]]).value == pytest.approx(4 / 9)


def test_vqa_accuracy_single_reference_is_exact_match():
    result = metrics.compute("vqa_accuracy", ["The dog", "cat"], ["dog", "dogs"])
    assert result.details["per_example"] == [1.0, 0.0]


def test_string_metrics_reject_non_strings():
    with pytest.raises(metrics.MetricError, match="prediction 0 must be a string"):
        metrics.compute("exact_match", [3], ["3"])
    with pytest.raises(metrics.MetricError, match="reference 0 must be a string"):
        metrics.compute("rouge", ["3"], [3])
