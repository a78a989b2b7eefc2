"""exact_match, accuracy and vqa_accuracy: per-example string matches, averaged."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from pytest_cegi.metrics.base import Metric, MetricError, as_reference_lists, as_strings, mean, reject_options
from pytest_cegi.metrics.text import NORMALIZERS, normalize_vqa


def _normalizer(normalize: str | Callable[[str], str], metric: str) -> Callable[[str], str]:
    if callable(normalize):
        return normalize
    try:
        return NORMALIZERS[normalize]
    except KeyError:
        raise MetricError(
            f"{metric}: unknown normalize={normalize!r}; use one of {sorted(NORMALIZERS)} or a function"
        ) from None


class ExactMatch(Metric):
    """1 when the normalised prediction equals any normalised reference, else 0."""

    name = "exact_match"
    primary_key = "exact_match"

    def score(self, predictions: Sequence, references: Sequence, *,
              normalize: str | Callable[[str], str] = "squad", **kwargs: Any) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        norm = _normalizer(normalize, self.name)
        preds = as_strings(predictions, self.name)
        refs = as_reference_lists(references, self.name)
        hits = [float(norm(p) in {norm(r) for r in rs}) for p, rs in zip(preds, refs)]
        label = normalize if isinstance(normalize, str) else getattr(normalize, "__name__", "custom")
        return {"exact_match": mean(hits)}, {"per_example": hits, "normalize": label}


class Accuracy(Metric):
    """Fraction of predictions equal to their label.

    Strings are compared after `normalize` ("basic" by default: case-fold, trim,
    collapse whitespace); anything else (ints, bools) with ``==``. One label per example.
    """

    name = "accuracy"
    primary_key = "accuracy"

    def score(self, predictions: Sequence, references: Sequence, *,
              normalize: str | Callable[[str], str] = "basic", **kwargs: Any) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        norm = _normalizer(normalize, self.name)

        def same(p: Any, r: Any) -> bool:
            if isinstance(p, str) and isinstance(r, str):
                return norm(p) == norm(r)
            return p == r

        hits = [float(same(p, r)) for p, r in zip(predictions, references)]
        return {"accuracy": mean(hits)}, {"per_example": hits}


class VqaAccuracy(Metric):
    """VQA accuracy: min(#references equal to the answer / 3, 1) after VQA normalisation.

    With a single reference string this is exact match. The official VQA script also
    averages over the 10 leave-one-out subsets of the 10 human answers; this one uses all
    references at once (the formula in the VQA paper), which differs slightly when the
    answer matches exactly 3 of 10 humans.
    """

    name = "vqa_accuracy"
    primary_key = "vqa_accuracy"

    def score(self, predictions: Sequence, references: Sequence, **kwargs: Any) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        preds = as_strings(predictions, self.name)
        refs = as_reference_lists(references, self.name)
        per = []
        for pred, answers in zip(preds, refs):
            p = normalize_vqa(pred)
            matches = sum(normalize_vqa(a) == p for a in answers)
            per.append(float(matches == 1) if len(answers) == 1 else min(matches / 3.0, 1.0))
        return {"vqa_accuracy": mean(per)}, {"per_example": per}


__all__ = ["Accuracy", "ExactMatch", "VqaAccuracy"]
