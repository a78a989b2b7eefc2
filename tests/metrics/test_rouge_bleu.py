"""rouge, bleu, chrf: hand-worked values, and agreement with the libraries called directly."""

import math
import random

import pytest

from pytest_cegi import metrics

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
sacrebleu = pytest.importorskip("sacrebleu")

VOCAB = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "table",
    "quickly",
    "slowly",
    "red",
    "blue",
    "big",
    "small",
    "house",
]


def random_corpus(n, seed):
    rng = random.Random(seed)

    def sentence():
        return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(3, 12)))

    return [sentence() for _ in range(n)], [sentence() for _ in range(n)]


# --- rouge ---------------------------------------------------------------------------


def test_rouge_hand_worked():
    # pred: the cat sat on the mat / ref: the cat is on the mat (6 tokens each)
    # unigrams in common: the x2, cat, on, mat = 5 -> P = R = 5/6
    # bigrams: "the cat", "on the", "the mat" = 3 of 5 -> 3/5
    # LCS: the cat on the mat = 5 -> 5/6
    result = metrics.compute("rouge", ["the cat sat on the mat"], ["the cat is on the mat"])
    assert result.key == "rougeL"
    assert result.scores["rouge1"] == pytest.approx(5 / 6)
    assert result.scores["rouge2"] == pytest.approx(3 / 5)
    assert result.scores["rougeL"] == pytest.approx(5 / 6)


def test_rouge_stems():
    # Porter stemming: cats -> cat, running -> run
    assert metrics.compute("rouge:rouge1", ["cats running"], ["cat run"]).value == pytest.approx(1.0)
    unstemmed = metrics.compute("rouge:rouge1", ["cats running"], ["cat run"], use_stemmer=False)
    assert unstemmed.value == pytest.approx(0.0)


def test_rouge_lsum_one_sentence_without_newlines_by_default():
    # rouge-score's default: only newlines separate sentences. Without one, each text is
    # a single sentence and rougeLsum is rougeL: LCS "the dog ran" is 3 of 6 tokens.
    pred, ref = "the cat sat. the dog ran.", "the dog ran. the cat sat."
    result = metrics.compute("rouge", [pred], [ref])
    assert result.scores["rougeLsum"] == pytest.approx(0.5)
    assert result.scores["rougeL"] == pytest.approx(0.5)
    assert result.details["sentence_split"].startswith("newlines only")
    # One sentence per line: each reference sentence is found whole -> 1.0
    assert metrics.compute("rouge:rougeLsum", [pred.replace(". ", ".\n")], [ref.replace(". ", ".\n")]).value == 1.0


def test_rouge_lsum_split_sentences_is_opt_in():
    # As one sequence the LCS is "the cat the dog" (4 of 6 tokens). Sentence by sentence
    # (summary-level LCS), each reference sentence is covered by the union of its LCS with
    # both candidate sentences: {the, cat, ran} and {the, dog, sat} -> 6 of 6.
    pred, ref = "The cat sat. The dog ran.", "The cat ran. The dog sat."
    default = metrics.compute("rouge", [pred], [ref])
    split = metrics.compute("rouge", [pred], [ref], split_sentences=True)
    assert default.scores["rougeLsum"] == pytest.approx(4 / 6)
    assert split.scores["rougeLsum"] == pytest.approx(1.0)
    assert split.scores["rougeL"] == default.scores["rougeL"] == pytest.approx(4 / 6)
    assert "regex" in split.details["sentence_split"]


def random_documents(n, seed):
    """(pred sentences, ref sentences) pairs, 1-3 sentences each."""
    rng = random.Random(seed)
    return [tuple(random_corpus(rng.randint(1, 3), seed=rng.random())) for _ in range(n)]


N_ROUGE_DOCS = 300


@pytest.mark.parametrize("joiner", [". ", ".\n"])
def test_rouge_defaults_agree_with_rouge_score(joiner):
    # The same raw strings go to both; ". " texts are one sentence each in rougeLsum,
    # ".\n" texts one per line. Compared example by example.
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=True)
    docs = random_documents(N_ROUGE_DOCS, seed=1)
    preds = [joiner.join(p) + "." for p, _ in docs]
    refs = [joiner.join(r) + "." for _, r in docs]
    ours = metrics.compute("rouge", preds, refs).details["per_example"]
    worst = 0.0
    for i, (pred, ref) in enumerate(zip(preds, refs, strict=True)):
        direct = scorer.score(ref, pred)
        worst = max([worst] + [abs(ours[t][i] - direct[t].fmeasure) for t in types])
    assert worst <= 1e-12


def test_rouge_split_sentences_agrees_with_rouge_score_on_known_boundaries():
    # rouge-score is given the known sentence boundaries as newlines; ours gets the plain
    # text with split_sentences=True and must find them itself.
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=True)
    docs = random_documents(N_ROUGE_DOCS, seed=2)
    preds = [". ".join(p) + "." for p, _ in docs]
    refs = [". ".join(r) + "." for _, r in docs]
    ours = metrics.compute("rouge", preds, refs, split_sentences=True)
    worst = 0.0
    for i, (p_sents, r_sents) in enumerate(docs):
        direct = scorer.score("\n".join(r_sents), "\n".join(p_sents))
        worst = max([worst] + [abs(ours.details["per_example"][t][i] - direct[t].fmeasure) for t in types])
    assert worst <= 1e-12
    assert ours.scores["rougeLsum"] != pytest.approx(ours.scores["rougeL"])


def test_rouge_multiple_references_takes_the_best():
    pred = "the cat sat on the mat"
    alone = metrics.compute("rouge", [pred], ["the cat sat on the mat"]).value
    best_of = metrics.compute("rouge", [pred], [["a dog ran", "the cat sat on the mat"]]).value
    assert alone == best_of == pytest.approx(1.0)


def test_rouge_rejects_unknown_types():
    with pytest.raises(metrics.MetricError, match="unknown rouge_types"):
        metrics.compute("rouge", ["a"], ["a"], rouge_types=["rougeX"])
    with pytest.raises(metrics.MetricError, match="unknown rouge_types"):
        metrics.compute("rouge", ["a"], ["a"], rouge_types=["rouge01"])  # rouge-score would raise ValueError
    assert metrics.compute("rouge:rouge3", ["a b c"], ["a b c"], rouge_types=["rouge3"]).value == 1.0


# --- bleu / chrf ---------------------------------------------------------------------


def test_bleu_hand_worked():
    # a b c d e vs a b c d f: n-gram precisions 4/5, 3/4, 2/3, 1/2, equal lengths (BP 1)
    result = metrics.compute("bleu", ["a b c d e"], ["a b c d f"])
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert result.value == pytest.approx(expected)
    assert result.details["precisions"] == pytest.approx([4 / 5, 3 / 4, 2 / 3, 1 / 2])
    assert result.details["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")


def test_bleu_brevity_penalty_hand_worked():
    # Candidate 4 tokens, reference 6: all candidate n-grams match, BP = exp(1 - 6/4).
    result = metrics.compute("bleu", ["a b c d"], ["a b c d e f"])
    assert result.value == pytest.approx(math.exp(1 - 6 / 4))


def test_bleu_agrees_with_sacrebleu():
    preds, refs = random_corpus(80, seed=2)
    direct = sacrebleu.corpus_bleu(preds, [refs])
    result = metrics.compute("bleu", preds, refs)
    assert result.value == pytest.approx(direct.score / 100)
    assert 0.0 < result.value < 1.0


def test_bleu_multi_reference_agrees_with_sacrebleu_streams():
    preds, refs_a = random_corpus(40, seed=3)
    _, refs_b = random_corpus(40, seed=4)
    direct = sacrebleu.corpus_bleu(preds, [refs_a, refs_b])
    result = metrics.compute("bleu", preds, [[a, b] for a, b in zip(refs_a, refs_b, strict=True)])
    assert result.value == pytest.approx(direct.score / 100)
    assert result.details["signature"].startswith("nrefs:2")


def test_bleu_options_reach_sacrebleu():
    lower = metrics.compute("bleu", ["The Cat Sat Down"], ["the cat sat down"], lowercase=True)
    cased = metrics.compute("bleu", ["The Cat Sat Down"], ["the cat sat down"])
    assert lower.value == pytest.approx(1.0)
    assert cased.value < 0.5
    assert "case:lc" in lower.details["signature"]
    with pytest.raises(metrics.MetricError, match="bad option"):
        metrics.compute("bleu", ["a"], ["a"], not_an_option=1)


def test_chrf_default_is_chrf_not_chrf_plus_plus():
    preds, refs = random_corpus(80, seed=5)
    default = metrics.compute("chrf", preds, refs)
    direct = sacrebleu.metrics.CHRF()  # sacrebleu's defaults: char_order 6, word_order 0
    assert default.value == pytest.approx(direct.corpus_score(preds, [refs]).score / 100)
    assert default.value == pytest.approx(sacrebleu.corpus_chrf(preds, [refs]).score / 100)
    assert "|nw:0|" in default.details["signature"]
    # chrF++ (word bigrams too) only when asked for
    plus = metrics.compute("chrf", preds, refs, word_order=2)
    assert plus.value == pytest.approx(sacrebleu.corpus_chrf(preds, [refs], word_order=2).score / 100)
    assert plus.value != pytest.approx(default.value)
    assert "|nw:2|" in plus.details["signature"]


def test_chrf_extremes():
    assert metrics.compute("chrf", ["abcdef ghij"], ["abcdef ghij"]).value == pytest.approx(1.0)
    assert metrics.compute("chrf", ["xyz"], ["abc"]).value == pytest.approx(0.0)
    assert "nc:6" in metrics.compute("chrf", ["abc"], ["abc"]).details["signature"]
