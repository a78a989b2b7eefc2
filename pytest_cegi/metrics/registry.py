"""Metric lookup, the `evaluate` adapter, and `compute`, the one entry point callers use."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Sequence
from typing import Any

from pytest_cegi.metrics.base import Metric, MetricError, MetricResult
from pytest_cegi.metrics.unavailable import REASONS, WORKAROUND

_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add (or replace) a metric under `metric.name`; returns it, so it can decorate an instance."""
    if isinstance(metric, type):
        raise MetricError(f"register an instance, not the class: register({metric.__name__}())")
    name = getattr(metric, "name", "")
    if not isinstance(name, str) or not name or ":" in name:
        raise MetricError(f"a metric needs a non-empty `name` without ':' to be registered, got {name!r}")
    if not callable(getattr(metric, "compute", None)):
        raise MetricError(f"metric {name!r} has no compute() method")
    # Anything that is not a Metric is treated as an evaluate-style module.
    _REGISTRY[name] = metric if isinstance(metric, Metric) else EvaluateMetric(metric)
    return metric


def available() -> list[str]:
    """Names of the metrics that can run here."""
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str) -> Metric:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        pass
    if name in REASONS:
        raise MetricError(f"metric {name!r} cannot run here: {REASONS[name]} {WORKAROUND}")
    close = difflib.get_close_matches(name, _REGISTRY, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise MetricError(f"unknown metric {name!r}.{hint} Available: {', '.join(sorted(_REGISTRY))}")


class EvaluateMetric(Metric):
    """Adapts any object with ``compute(predictions=..., references=...)``: an `evaluate`
    module loaded from a local script (``evaluate.load("path/to/metric.py")`` needs no
    network), or anything shaped like one.

    The recorded key is `key` when given (wrap an object in this class to choose one; a
    key the object does not produce is an error); otherwise the module's name when it is
    a result key, else "score", else the first numeric result. Non-numeric results (lists,
    strings) go to details. The scale is whatever the object returns: `evaluate`'s
    sacrebleu reports 0..100.
    """

    def __init__(self, module: Any, key: str | None = None, higher_is_better: bool = True):
        if not callable(getattr(module, "compute", None)):
            raise MetricError(f"{module!r} has no compute(predictions=..., references=...) method")
        self.module = module
        self.name = str(getattr(module, "name", None) or type(module).__name__)
        self.primary_key = key or ""
        self.higher_is_better = higher_is_better
        self.range = (-math.inf, math.inf)

    def score(self, predictions: Sequence, references: Sequence, **kwargs: Any) -> tuple[dict, dict]:
        raw = self.module.compute(predictions=list(predictions), references=list(references), **kwargs)
        scores, extras = _split_numeric(self.name, raw)
        if self.primary_key and self.primary_key not in scores:
            # compute() would otherwise fall back to a guessed key without a word.
            raise MetricError(f"{self.name}: no score named {self.primary_key!r}; it produced {sorted(scores)}")
        return scores, {"source": "evaluate-compatible object", "extras": extras}


def _split_numeric(name: str, raw: Any) -> tuple[dict, dict]:
    """A compute() result -> (numeric scores as floats, everything else)."""
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        raw = {name: raw}
    if not isinstance(raw, dict):
        raise MetricError(f"{name}: compute() returned {type(raw).__name__}, expected a dict of scores")
    scores = {k: float(v) for k, v in raw.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)}
    return scores, {k: v for k, v in raw.items() if k not in scores}


def _guess_key(name: str, scores: dict) -> str:
    """The module's own name when it is a score, else "score", else the first score reported."""
    for candidate in (name, "score"):
        if candidate in scores:
            return candidate
    return next(iter(scores))


def resolve(metric: Any) -> tuple[Metric, str | None]:
    """A metric spec -> (metric, the user's key or None)."""
    if isinstance(metric, str):
        name, _, key = metric.partition(":")
        return get(name.strip()), (key.strip() or None)
    if isinstance(metric, Metric):
        return metric, None
    return EvaluateMetric(metric), None


def _check_inputs(name: str, predictions: Any, references: Any) -> None:
    for label, value in (("predictions", predictions), ("references", references)):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise MetricError(f"{name}: {label} must be a list (one item per example), got {type(value).__name__}")
    if len(predictions) == 0 and len(references) == 0:
        raise MetricError(f"{name}: no examples to score (predictions and references are empty)")
    if len(predictions) != len(references):
        raise MetricError(
            f"{name}: {len(predictions)} predictions but {len(references)} references; they must pair up one to one"
        )


def compute(metric: Any, predictions: Sequence, references: Sequence, **kwargs: Any) -> MetricResult:
    """Score predictions against references.

    `metric` is a registered name ("rouge"), a name with the key to record
    ("rouge:rouge1"), a `Metric`, or an `evaluate`-style object. Keyword arguments go to
    the metric (e.g. ``db=`` for execution_accuracy).
    """
    entry, user_key = resolve(metric)
    _check_inputs(entry.name, predictions, references)
    predictions, references = list(predictions), list(references)
    if type(entry).score is not Metric.score:
        scores, details = entry.score(predictions, references, **kwargs)
    else:  # a user Metric that only implements compute()
        scores, extras = _split_numeric(entry.name, entry.compute(predictions, references, **kwargs))
        details = {"extras": extras} if extras else {}
    if not scores:
        raise MetricError(f"{entry.name}: produced no numeric scores")
    if user_key and user_key not in scores:
        raise MetricError(f"{entry.name}: no score named {user_key!r}; it produced {sorted(scores)}")
    key = user_key or entry.primary_key
    if key not in scores:
        # No declared primary (evaluate objects), or it was not computed this time.
        key = _guess_key(entry.name, scores)
    return MetricResult(
        name=entry.name,
        key=key,
        value=float(scores[key]),
        higher_is_better=bool(entry.higher_is_better),
        scores=dict(scores),
        details=dict(details),
    )


_builtins_loaded = False


def _load_builtins() -> None:
    # Deferred so that importing the package defines classes only; nothing heavy either way.
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from pytest_cegi.metrics.cider import CiderD
    from pytest_cegi.metrics.detection import DetectionMap
    from pytest_cegi.metrics.execution import ExecutionAccuracy
    from pytest_cegi.metrics.match import Accuracy, ExactMatch, VqaAccuracy
    from pytest_cegi.metrics.numeric import NumericAccuracy
    from pytest_cegi.metrics.pass_at_k import PassAtK
    from pytest_cegi.metrics.rouge import Rouge
    from pytest_cegi.metrics.sacrebleu_metrics import Bleu, Chrf

    for cls in (
        Rouge,
        Bleu,
        Chrf,
        ExactMatch,
        Accuracy,
        VqaAccuracy,
        CiderD,
        ExecutionAccuracy,
        PassAtK,
        NumericAccuracy,
        DetectionMap,
    ):
        _REGISTRY.setdefault(cls.name, cls())
