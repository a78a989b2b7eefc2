"""BLEU and chrF corpus scores from sacrebleu, rescaled from 0..100 to 0..1.

The sacrebleu signature (tokeniser, smoothing, case, version, ...) goes in the details:
two BLEU numbers are only comparable when their signatures match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_cegi.metrics.base import Metric, MetricError, as_reference_lists, as_strings, require


def _reference_streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu wants one stream per reference position; None pads shorter lists."""
    width = max(len(r) for r in refs)
    return [[r[i] if i < len(r) else None for r in refs] for i in range(width)]


class _SacreMetric(Metric):
    _class_name = ""

    def score(self, predictions: Sequence, references: Sequence, **kwargs: Any) -> tuple[dict, dict]:
        metrics = require("sacrebleu.metrics", "sacrebleu")
        preds = as_strings(predictions, self.name)
        refs = as_reference_lists(references, self.name)
        try:
            scorer = getattr(metrics, self._class_name)(**kwargs)
        except TypeError as exc:
            raise MetricError(f"{self.name}: bad option for sacrebleu {self._class_name}: {exc}") from None
        result = scorer.corpus_score(preds, _reference_streams(refs))
        details = {
            "signature": scorer.get_signature().format(),
            "sacrebleu_score": result.score,
            "scale": "sacrebleu score / 100",
        }
        details.update(self._extra(result))
        return {self.primary_key: result.score / 100.0}, details

    def _extra(self, result: Any) -> dict:
        return {}


class Bleu(_SacreMetric):
    """Corpus BLEU (sacrebleu defaults: 13a tokeniser, exp smoothing), on 0..1.

    Options are passed to `sacrebleu.metrics.BLEU` (tokenize=, lowercase=, smooth_method=...).
    """

    name = "bleu"
    primary_key = "bleu"
    _class_name = "BLEU"

    def _extra(self, result: Any) -> dict:
        return {
            "precisions": [p / 100.0 for p in result.precisions],
            "brevity_penalty": result.bp,
            "sys_len": result.sys_len,
            "ref_len": result.ref_len,
        }


class Chrf(_SacreMetric):
    """Corpus chrF with sacrebleu's `CHRF()` defaults, on 0..1.

    The default is plain chrF: character 6-grams, no word n-grams (word_order=0),
    beta 2. Pass `word_order=2` for chrF++. Options go to `sacrebleu.metrics.CHRF`.
    """

    name = "chrf"
    primary_key = "chrf"
    _class_name = "CHRF"
