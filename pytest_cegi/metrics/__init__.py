"""Built-in offline task scorers and the `evaluate` adapter.

    from pytest_cegi import metrics
    result = metrics.compute("rouge", predictions, references)       # records rougeL
    result = metrics.compute("rouge:rouge1", predictions, references)
    result = metrics.compute("execution_accuracy", sqls, gold_sqls, db="shop.sqlite")
    result = metrics.compute(my_scorer, predictions, references)      # any object with compute()

`my_scorer` is anything with `compute(predictions=..., references=...) -> dict` that
you built locally; never `evaluate.load(...)`, which fetches its script from the Hub.

Importing this package imports no third-party library; each metric imports its own
dependency (rouge-score, sacrebleu, datasets) when first used. See docs/metrics.md.
"""

from __future__ import annotations

from pytest_cegi.metrics.base import Metric, MetricError, MetricResult, MetricWarning, MissingDependency
from pytest_cegi.metrics.data import load_dataset, load_records
from pytest_cegi.metrics.execution import GoldQueryError
from pytest_cegi.metrics.registry import EvaluateMetric, available, compute, get, register

__all__ = [
    "EvaluateMetric",
    "GoldQueryError",
    "Metric",
    "MetricError",
    "MetricResult",
    "MetricWarning",
    "MissingDependency",
    "available",
    "compute",
    "get",
    "load_dataset",
    "load_records",
    "register",
]
