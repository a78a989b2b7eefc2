"""exact_match, accuracy and vqa_accuracy: per-example string matches, averaged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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

    def score(
        self,
        predictions: Sequence,
        references: Sequence,
        *,
        normalize: str | Callable[[str], str] = "squad",
        **kwargs: Any,
    ) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        norm = _normalizer(normalize, self.name)
        preds = as_strings(predictions, self.name)
        refs = as_reference_lists(references, self.name)
        hits = [float(norm(p) in {norm(r) for r in rs}) for p, rs in zip(preds, refs, strict=True)]
        label = normalize if isinstance(normalize, str) else getattr(normalize, "__name__", "custom")
        return {"exact_match": mean(hits)}, {"per_example": hits, "normalize": label}


class Accuracy(Metric):
    """Fraction of predictions equal to their label.

    Strings are compared after `normalize` ("basic" by default: case-fold, trim,
    collapse whitespace); anything else (ints, bools) with ``==``. One label per example.
    """

    name = "accuracy"
    primary_key = "accuracy"

    def score(
        self,
        predictions: Sequence,
        references: Sequence,
        *,
        normalize: str | Callable[[str], str] = "basic",
        **kwargs: Any,
    ) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        norm = _normalizer(normalize, self.name)

        def same(p: Any, r: Any) -> bool:
            if isinstance(p, str) and isinstance(r, str):
                return norm(p) == norm(r)
            return p == r

        hits = [float(same(p, r)) for p, r in zip(predictions, references, strict=True)]
        return {"accuracy": mean(hits)}, {"per_example": hits}


def vqa_score(matches: int, humans: int) -> float:
    """The official VQA accuracy of an answer that `matches` of `humans` answers agree with.

    The official script scores min(1, agreeing others / 3) once for each human left out
    and averages: with 10 humans, 1, 2 and 3 matches give 0.3, 0.6 and 0.9, 4 or more 1.
    """
    if humans == 1:
        # Leave-one-out leaves no one to agree with (the official score is always 0);
        # the project scores a single reference as exact match instead.
        return float(matches == 1)
    left_out_match = min(1.0, (matches - 1) / 3.0)  # one of the agreeing humans is left out
    left_out_other = min(1.0, matches / 3.0)  # someone else is left out
    return (matches * left_out_match + (humans - matches) * left_out_other) / humans


class VqaAccuracy(Metric):
    """VQA accuracy as the official evaluation computes it (GT-Vision-Lab/VQA, vqaEval.py).

    Answers are normalised with the official rules (`text.normalize_vqa`), and an answer
    scores the mean, over the leave-one-out subsets of the human answers, of
    min(1, #matches / 3): with 10 humans, 1/2/3 matches score 0.3/0.6/0.9.

    Where this differs from the official script (see docs/metrics.md):
    - a single reference (a string or a one-item list) is scored as exact match
      (officially always 0);
    - references get the same full normalisation as the answer. The official script
      trusts its pre-normalised annotations: it only applies the punctuation rule to
      them, and not even that when all humans gave the same answer.
    With fewer than 4 references a perfect answer cannot reach 1 (3 agreeing of 3: 2/3),
    exactly as in the official formula.
    """

    name = "vqa_accuracy"
    primary_key = "vqa_accuracy"

    def score(self, predictions: Sequence, references: Sequence, **kwargs: Any) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        preds = as_strings(predictions, self.name)
        refs = as_reference_lists(references, self.name)
        per = []
        for pred, answers in zip(preds, refs, strict=True):
            p = normalize_vqa(pred)
            per.append(vqa_score(sum(normalize_vqa(a) == p for a in answers), len(answers)))
        return {"vqa_accuracy": mean(per)}, {"per_example": per}


__all__ = ["Accuracy", "ExactMatch", "VqaAccuracy", "vqa_score"]
