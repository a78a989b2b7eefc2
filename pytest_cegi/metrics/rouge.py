"""ROUGE F1 via Google's rouge-score package, stemming on, no nltk data needed.

rougeLsum follows rouge-score's default (`split_summaries=False`): sentences are the
newline-separated lines of the text, and text without newlines is one sentence.
rouge-score's opt-in splitter is nltk's punkt model, which needs a download; our opt-in
`split_sentences=True` uses a regex instead (`text.split_sentences`) and hands rouge-score
one sentence per line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pytest_cegi.metrics.base import Metric, MetricError, as_reference_lists, as_strings, mean, reject_options, require
from pytest_cegi.metrics.text import split_sentences as regex_sentences

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_ROUGE_N = re.compile(r"rouge[1-9]")  # rouge-score's own pattern, less the meaningless rouge0


def _one_sentence_per_line(text: str) -> str:
    return "\n".join(regex_sentences(text))


class Rouge(Metric):
    """Mean per-example ROUGE F1. Several references: the best-scoring one counts.

    rougeLsum takes sentences from newlines only, as rouge-score does by default; pass
    `split_sentences=True` to also split after . ! ? (a regex, not nltk's punkt). This
    only changes rougeLsum: the other types ignore sentence boundaries.
    """

    name = "rouge"
    primary_key = "rougeL"

    def score(
        self,
        predictions: Sequence,
        references: Sequence,
        *,
        rouge_types: Sequence[str] = ROUGE_TYPES,
        use_stemmer: bool = True,
        split_sentences: bool = False,
        **kwargs: Any,
    ) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        unknown = [t for t in rouge_types if t not in ROUGE_TYPES and not _ROUGE_N.fullmatch(t)]
        if unknown:
            raise MetricError(f"rouge: unknown rouge_types {unknown}; use {list(ROUGE_TYPES)} or rougeN")
        rouge_scorer = require("rouge_score.rouge_scorer", "rouge-score")
        scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
        prep = _one_sentence_per_line if split_sentences else str
        preds = [prep(p) for p in as_strings(predictions, self.name)]
        refs = [[prep(r) for r in rs] for rs in as_reference_lists(references, self.name)]
        per: dict[str, list[float]] = {t: [] for t in rouge_types}
        for pred, targets in zip(preds, refs, strict=True):
            # score_multi keeps, per rouge type, the reference with the best F1.
            result = scorer.score_multi(targets, pred) if len(targets) > 1 else scorer.score(targets[0], pred)
            for t in rouge_types:
                per[t].append(result[t].fmeasure)
        scores = {t: mean(v) for t, v in per.items()}
        split = (
            "newlines and after . ! ? (regex, no punkt)" if split_sentences else "newlines only (rouge-score default)"
        )
        details = {
            "use_stemmer": use_stemmer,
            "aggregation": "mean of per-example F1",
            "sentence_split": split,
            "per_example": per,
        }
        return scores, details
