"""The pieces every metric shares: the result type, the errors, the Metric base.

Kept free of third-party imports so that `import pytest_cegi.metrics` stays cheap;
libraries such as rouge-score and sacrebleu are imported inside the metrics that use them.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

EXTRA = "metrics"  # the pyproject extra that installs rouge-score, sacrebleu, datasets


class MetricError(ValueError):
    """A user-facing problem with a metric call: bad name, bad inputs, bad gold data."""


class MissingDependency(MetricError, ImportError):
    """A metric needs an optional package that is not installed."""


class MetricWarning(UserWarning):
    """A score was computed but should be read with care (e.g. CIDEr-D on few examples)."""


@dataclass(frozen=True)
class MetricResult:
    name: str  # registry name, e.g. "rouge"
    key: str  # the score recorded, e.g. "rougeL"
    value: float  # scores[key]
    higher_is_better: bool
    scores: dict  # every named score the metric produced
    details: dict = field(default_factory=dict)  # signature, warnings, per-example data


class Metric:
    """A registered scorer.

    Subclasses set the class attributes and implement `score`, which returns
    `(scores, details)`; `compute` returns the scores alone (the shape `evaluate` users
    expect). Every built-in reports scores on a 0..1 scale unless `range` says otherwise.
    """

    name: str = ""
    higher_is_better: bool = True
    range: tuple[float, float] = (0.0, 1.0)
    primary_key: str = ""

    def score(self, predictions: Sequence, references: Sequence, **kwargs: Any) -> tuple[dict, dict]:
        raise NotImplementedError

    def compute(self, predictions: Sequence, references: Sequence, **kwargs: Any) -> dict:
        return self.score(predictions, references, **kwargs)[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} primary={self.primary_key!r}>"


def require(module: str, package: str | None = None):
    """Import an optional dependency, or fail with a message naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module
        raise MissingDependency(
            f"this metric needs the {pkg!r} package; install it with "
            f"`pip install {pkg}` or `pip install 'pytest-cegi[{EXTRA}]'` ({exc})"
        ) from exc


def reject_options(metric: str, kwargs: dict) -> None:
    """Fail on keyword options a metric does not take, naming them."""
    if kwargs:
        raise MetricError(f"{metric}: unexpected options {sorted(kwargs)}")


def as_reference_lists(references: Sequence, metric: str) -> list[list[str]]:
    """Normalise references to one list of strings per example."""
    out = []
    for i, ref in enumerate(references):
        refs = [ref] if isinstance(ref, str) else list(ref) if isinstance(ref, (list, tuple)) else None
        if refs is None or not all(isinstance(r, str) for r in refs):
            raise MetricError(
                f"{metric}: reference {i} must be a string or a list of strings, got {type(ref).__name__}"
            )
        if not refs:
            raise MetricError(f"{metric}: reference {i} is an empty list")
        out.append(refs)
    return out


def as_strings(predictions: Sequence, metric: str) -> list[str]:
    for i, pred in enumerate(predictions):
        if not isinstance(pred, str):
            raise MetricError(f"{metric}: prediction {i} must be a string, got {type(pred).__name__}")
    return list(predictions)


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)
