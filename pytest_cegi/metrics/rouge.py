"""ROUGE F1 via Google's rouge-score package, stemming on, no nltk data needed.

rouge-score's Porter stemmer is pure code. The only part that wants downloaded data is
its optional punkt sentence splitter for rougeLsum; instead we split sentences ourselves
(`text.split_sentences`) and hand rouge-score newline-separated text, which is the form
it splits on when `split_summaries` is off.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from pytest_cegi.metrics.base import (Metric, MetricError, as_reference_lists, as_strings, mean, reject_options,
                                      require)
from pytest_cegi.metrics.text import split_sentences

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_ROUGE_N = re.compile(r"rouge[1-9]")  # rouge-score's own pattern, less the meaningless rouge0


def _one_sentence_per_line(text: str) -> str:
    return "\n".join(split_sentences(text))


class Rouge(Metric):
    """Mean per-example ROUGE F1. Several references: the best-scoring one counts."""

    name = "rouge"
    primary_key = "rougeL"

    def score(self, predictions: Sequence, references: Sequence, *,
              rouge_types: Sequence[str] = ROUGE_TYPES, use_stemmer: bool = True,
              **kwargs: Any) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        unknown = [t for t in rouge_types if t not in ROUGE_TYPES and not _ROUGE_N.fullmatch(t)]
        if unknown:
            raise MetricError(f"rouge: unknown rouge_types {unknown}; use {list(ROUGE_TYPES)} or rougeN")
        rouge_scorer = require("rouge_score.rouge_scorer", "rouge-score")
        scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
        preds = [_one_sentence_per_line(p) for p in as_strings(predictions, self.name)]
        refs = [[_one_sentence_per_line(r) for r in rs] for rs in as_reference_lists(references, self.name)]
        per: dict[str, list[float]] = {t: [] for t in rouge_types}
        for pred, targets in zip(preds, refs):
            # score_multi keeps, per rouge type, the reference with the best F1.
            result = scorer.score_multi(targets, pred) if len(targets) > 1 else scorer.score(targets[0], pred)
            for t in rouge_types:
                per[t].append(result[t].fmeasure)
        scores = {t: mean(v) for t, v in per.items()}
        details = {"use_stemmer": use_stemmer, "aggregation": "mean of per-example F1",
                   "sentence_split": "regex on . ! ? and newlines (no punkt)", "per_example": per}
        return scores, details
