"""CIDEr-D against hand-worked values (idf = log(N/df), raw counts, sigma 6, x10)."""

import math
import random
import re
import string
import warnings

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics import MetricWarning
from pytest_cegi.metrics.text import caption_tokens


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
    words = ["man", "woman", "dog", "cat", "runs", "sits", "on", "grass", "a", "the", "red", "ball", "park"]
    caps = [" ".join(rng.choice(words) for _ in range(6)) for _ in range(100)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetricWarning)
        result = metrics.compute("cider", caps, caps)
    assert 0 < result.value <= 10


def test_tokenisation_ignores_case_and_punctuation():
    assert cider(["A man, riding.", "dogs"], ["a man riding", "dogs"]).details["per_example"][0] == pytest.approx(
        cider(["a man riding", "dogs"], ["a man riding", "dogs"]).details["per_example"][0]
    )


# --- tokenisation: any script --------------------------------------------------------

CHINESE = [
    "一只猫坐在垫子上",
    "两个男人在公园里踢足球",
    "一辆红色的公共汽车停在路边",
    "小女孩拿着一个蓝色的气球",
    "桌子上有一盘水果和面包",
]


def test_identical_non_ascii_captions_score_the_maximum():
    # Every caption has 4+ tokens and none of its n-grams is in every reference set, so
    # each n = 1..4 contributes a cosine of 1: 10 per example, the top of the range.
    for caps in (
        CHINESE,
        ["кошка сидит на коврике", "двое мужчин играют в футбол", "красный автобус стоит у дороги"],
        ["un café crème très chaud", "l'élève lit un livre épais", "deux garçons jouent au ballon"],
    ):
        result = cider(caps, caps)
        assert result.details["per_example"] == pytest.approx([10.0] * len(caps))


def test_chinese_characters_are_tokens_so_near_misses_get_credit():
    tokens = caption_tokens("一只猫坐在垫子上。")
    assert tokens == list("一只猫坐在垫子上")
    near = cider(["一只狗坐在垫子上"] + CHINESE[1:], CHINESE).details["per_example"][0]
    assert 0 < near < 10


def test_ascii_tokenisation_is_unchanged_by_unicode_support():
    # The tokeniser before Unicode support, for ASCII text.
    old = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + string.punctuation + " \t\n'''"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert caption_tokens(text) == old.findall(text.lower())


# --- agreement with the COCO caption toolkit ------------------------------------------


def pretokenised_corpus(n, seed):
    """Lower-case words joined by single spaces: what pycocoevalcap's PTB step produces."""
    rng = random.Random(seed)
    words = [
        "a",
        "an",
        "the",
        "man",
        "woman",
        "dog",
        "cat",
        "two",
        "red",
        "ball",
        "park",
        "grass",
        "sits",
        "runs",
        "on",
        "in",
        "with",
        "near",
    ]

    def caption():
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))

    preds = [caption() for _ in range(n)]
    refs = [[caption() for _ in range(rng.randint(1, 5))] for _ in range(n)]
    return preds, refs


@pytest.mark.parametrize("n, seed", [(5, 0), (40, 1), (500, 2)])
def test_agrees_with_pycocoevalcap_cider_on_pretokenised_text(n, seed):
    # pycocoevalcap's Cider itself is pure Python; only its PTB tokenizer needs Java,
    # so it is given text that is already tokenised.
    coco_cider = pytest.importorskip("pycocoevalcap.cider.cider", reason="pycocoevalcap is not installed")
    preds, refs = pretokenised_corpus(n, seed)
    corpus, per_image = coco_cider.Cider().compute_score(
        {i: r for i, r in enumerate(refs)}, {i: [p] for i, p in enumerate(preds)}
    )
    ours = cider(preds, refs)
    assert max(abs(a - b) for a, b in zip(ours.details["per_example"], per_image, strict=True)) <= 1e-9
    assert ours.value == pytest.approx(float(corpus), abs=1e-9)
