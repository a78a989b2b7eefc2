"""CIDEr-D against hand-worked values (idf = log(N/df), raw counts, sigma 6, x10)."""
import math
import random
import warnings

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics import MetricWarning


def cider(preds, refs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        return metrics.compute("cider", preds, refs, **kw)


def test_perfect_two_word_captions():
    # Each caption has unigrams and one bigram, all with idf log 2; the cosine is 1 for
    # n=1,2 and there are no 3- or 4-grams: (10 + 10 + 0 + 0) / 4 = 5.
    result = cider(["a b", "c d"], ["a b", "c d"])
    assert result.details["per_example"] == pytest.approx([5.0, 5.0])
    assert result.value == pytest.approx(5.0)


def test_clipping_and_length_penalty():
    # Image A: candidate "a b a", reference "a b". Every n-gram idf is log 2 (= w).
    #   n=1: cand {a:2w, b:w}, ref {a:w, b:w}; clipped dot min(2w,w)*w + w*w = 2w^2,
    #        norms w*sqrt(5), w*sqrt(2) -> 2/sqrt(10)
    #   n=2: cand {ab:w, ba:w}, ref {ab:w}: w^2 / (w*sqrt(2) * w) = 1/sqrt(2)
    #   n=3: the reference has no trigram -> 0
    #   length penalty exp(-(3-2)^2 / (2*36))
    a = 10 * math.exp(-1 / 72) * (2 / math.sqrt(10) + 1 / math.sqrt(2)) / 4
    result = cider(["a b a", "c d"], ["a b", "c d"])
    assert result.details["per_example"] == pytest.approx([a, 5.0])
    assert result.value == pytest.approx((a + 5.0) / 2)


def test_ngrams_common_to_every_image_carry_no_weight():
    # "x" is in every reference set: idf log(3/3) = 0. Image 1's candidate shares only "x"
    # with its reference, so it scores 0 despite the overlap.
    result = cider(["x z", "x b", "x c"], ["x a", "x b", "x c"])
    assert result.details["per_example"] == pytest.approx([0.0, 5.0, 5.0])
    assert result.value == pytest.approx(10 / 3)


def test_several_references_are_averaged():
    # Image 1 matches the first of its two references exactly and the second not at all:
    # per n = 10/2 * (1 + 0) = 5 for n=1,2 -> (5 + 5) / 4 = 2.5
    result = cider(["a b", "e f"], [["a b", "c d"], ["e f"]])
    assert result.details["per_example"] == pytest.approx([2.5, 5.0])


def test_repeating_a_matching_word_does_not_pay():
    base = cider(["a dog runs", "a cat sits"], ["a dog runs", "a cat sits"]).details["per_example"][0]
    padded = cider(["a dog dog dog runs", "a cat sits"], ["a dog runs", "a cat sits"]).details["per_example"][0]
    assert padded < base


def test_small_sets_warn_and_scale_is_documented():
    with pytest.warns(MetricWarning, match="unstable"):
        result = metrics.compute("cider", ["a b"] * 5, ["a b"] * 5)
    assert metrics.get("cider").range == (0.0, 10.0)
    assert "x10" in result.details["scale"]
    assert any("PTB" in w for w in result.details["warnings"])


def test_no_small_set_warning_from_100_examples():
    rng = random.Random(0)
    words = "man woman dog cat runs sits on grass a the red ball park".split()
    caps = [" ".join(rng.choice(words) for _ in range(6)) for _ in range(100)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetricWarning)
        result = metrics.compute("cider", caps, caps)
    assert 0 < result.value <= 10


def test_tokenisation_ignores_case_and_punctuation():
    assert cider(["A man, riding.", "dogs"], ["a man riding", "dogs"]).details["per_example"][0] == pytest.approx(
        cider(["a man riding", "dogs"], ["a man riding", "dogs"]).details["per_example"][0])
