"""A tiny `evaluate` metric for tests/metrics/test_evaluate_adapter.py.

Loaded with `evaluate.load("<this file>")`, which reads the script from disk: no Hub.
"""

import datasets
import evaluate


class LocalExact(evaluate.Metric):
    """Fraction of predictions identical to their reference (optionally ignoring case)."""

    def _info(self):
        return evaluate.MetricInfo(
            description="Fraction of predictions identical to their reference.",
            citation="",
            inputs_description="predictions, references: lists of strings; ignore_case: bool",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, ignore_case=False):
        def fold(text):
            return text.lower() if ignore_case else text

        hits = [int(fold(p) == fold(r)) for p, r in zip(predictions, references, strict=True)]
        return {"local_exact": sum(hits) / len(hits), "hits": hits}
