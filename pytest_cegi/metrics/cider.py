"""CIDEr-D (Vedantam et al., 2015), written from the paper's definition in pure Python.

For each n in 1..4, every sentence becomes a tf-idf vector over its n-grams:
tf is the raw n-gram count, idf = log(N / df) where N is the number of examples and df
the number of examples whose *reference set* contains the n-gram (floored at 1, so
n-grams seen only in candidates get the largest idf). Per example and per n:

    CIDEr-D_n = 10/m * sum_j exp(-(l_c - l_j)^2 / (2 * sigma^2)) *
                sum_g min(c_g, s_jg) * s_jg / (|c| * |s_j|)

over the m references s_j, with l the token length, sigma = 6, and the min() clipping
the candidate's weights to the reference's (so repeating a good n-gram does not pay).
CIDEr-D is the mean of CIDEr-D_1..4, then the mean over examples. The reported score
keeps the paper's x10 factor, so it lies in 0..10 (COCO leaderboards usually print this
figure x100, e.g. 1.10 here is "110").

Tokens come from `text.caption_tokens`, not from the Java PTB tokeniser that the COCO
caption toolkit (pycocoevalcap) runs first. Both lower-case; ours keeps words of any
script and makes each Chinese/Japanese character a token. It differs from PTB in that it
keeps "don't" and "dog's" whole (PTB: "do n't", "dog 's"), splits "black-and-white",
"3.5" and "1,000" at the symbol (PTB keeps them whole), and drops symbols such as & $ % #
(PTB keeps them as tokens). On text already tokenised into lower-case words separated
by spaces, the scores equal pycocoevalcap's Cider (the tests check this).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pytest_cegi.metrics.base import Metric, MetricWarning, as_reference_lists, as_strings, mean, reject_options
from pytest_cegi.metrics.text import caption_tokens

MAX_N = 4
SIGMA = 6.0
# Below this many examples the document frequencies are too coarse for stable idf.
SMALL_SET = 100

NOT_COMPARABLE = (
    "CIDEr-D here tokenises with a Unicode word regex (one token per CJK character), not the "
    "PTB tokeniser of the COCO caption toolkit, so figures are not comparable with published "
    "COCO numbers unless the captions are tokenised the same way beforehand"
)


def _ngram_counts(tokens: list[str]) -> list[Counter]:
    return [Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)) for n in range(1, MAX_N + 1)]


def _weigh(counts: Counter, idf: dict, log_n: float) -> tuple[dict, float]:
    vec = {g: c * idf.get(g, log_n) for g, c in counts.items()}
    return vec, math.sqrt(math.fsum(v * v for v in vec.values()))


def _similarity(cand: tuple[dict, float], ref: tuple[dict, float]) -> float:
    (cv, cnorm), (rv, rnorm) = cand, ref
    if cnorm == 0.0 or rnorm == 0.0:
        return 0.0
    dot = math.fsum(min(w, rv[g]) * rv[g] for g, w in cv.items() if g in rv)
    return dot / (cnorm * rnorm)


def cider_d(candidates: list[list[str]], references: list[list[list[str]]], sigma: float = SIGMA) -> list[float]:
    """Per-example CIDEr-D (x10 scale) for tokenised candidates and reference sets."""
    n_docs = len(candidates)
    log_n = math.log(float(n_docs))
    cand_counts = [_ngram_counts(c) for c in candidates]
    ref_counts = [[_ngram_counts(r) for r in refs] for refs in references]

    # df[n][g]: in how many examples' reference sets the n-gram g appears.
    df: list[Counter] = [Counter() for _ in range(MAX_N)]
    for refs in ref_counts:
        for n in range(MAX_N):
            df[n].update(set().union(*(r[n] for r in refs)))
    idf = [{g: log_n - math.log(max(1.0, d)) for g, d in df[n].items()} for n in range(MAX_N)]

    scores = []
    for cand_tokens, cand, refs_tokens, refs in zip(candidates, cand_counts, references, ref_counts, strict=True):
        per_n = []
        for n in range(MAX_N):
            c = _weigh(cand[n], idf[n], log_n)
            total = 0.0
            for ref_tokens, ref in zip(refs_tokens, refs, strict=True):
                penalty = math.exp(-((len(cand_tokens) - len(ref_tokens)) ** 2) / (2.0 * sigma**2))
                total += penalty * _similarity(c, _weigh(ref[n], idf[n], log_n))
            per_n.append(10.0 * total / len(refs))
        scores.append(mean(per_n))
    return scores


class CiderD(Metric):
    name = "cider"
    primary_key = "cider"
    range = (0.0, 10.0)

    def score(
        self, predictions: Sequence, references: Sequence, *, sigma: float = SIGMA, **kwargs: Any
    ) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        cands = [caption_tokens(p) for p in as_strings(predictions, self.name)]
        refs = [[caption_tokens(r) for r in rs] for rs in as_reference_lists(references, self.name)]
        per = cider_d(cands, refs, sigma=sigma)
        notes = [NOT_COMPARABLE]
        if len(cands) < SMALL_SET:
            msg = (
                f"CIDEr-D on {len(cands)} examples is unstable: its idf weights come from the "
                f"reference sets of this batch alone (use {SMALL_SET}+ examples)"
            )
            warnings.warn(msg, MetricWarning, stacklevel=2)
            notes.append(msg)
        return {"cider": mean(per)}, {
            "per_example": per,
            "scale": "x10 (0..10), as in the paper",
            "sigma": sigma,
            "warnings": notes,
        }
