"""Execution accuracy for text-to-SQL on SQLite, and BIRD's valid efficiency score.

A prediction is correct when its result equals the gold query's result, compared as a
multiset of rows (duplicates count, order does not), as an ordered list when the gold
query has a top-level ORDER BY, or as a set with ``set_semantics=True`` (BIRD's rule).
Every query runs inside `SqlSandbox` (a child process per database, with time and memory
limits). A prediction that fails in any way scores 0; a gold query that fails is a data
error and raises `GoldQueryError`.
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any, TypedDict

from pytest_cegi.metrics.base import Metric, MetricError, mean, reject_options
from pytest_cegi.metrics.sql_sandbox import DEFAULT_MEMORY_MIB, QueryOutcome, SqlSandbox
from pytest_cegi.metrics.sqltext import has_top_level_order_by


class GoldQueryError(MetricError):
    """A reference (gold) query did not run: the task data is wrong, not the model."""


def results_match(
    pred_rows: Sequence[tuple], gold_rows: Sequence[tuple], *, ordered: bool, set_semantics: bool = False
) -> bool:
    if set_semantics:
        return set(pred_rows) == set(gold_rows)
    if ordered:
        return list(pred_rows) == list(gold_rows)
    return Counter(pred_rows) == Counter(gold_rows)


def _trimmed_mean(times: list[float]) -> float:
    """Mean after dropping timings more than 3 standard deviations from the mean (BIRD)."""
    if len(times) < 3:
        return statistics.fmean(times)
    mu, sd = statistics.fmean(times), statistics.pstdev(times)
    kept = [t for t in times if abs(t - mu) <= 3 * sd] or times
    return statistics.fmean(kept)


def _timed(box: SqlSandbox, sql: str, repeats: int) -> float | None:
    times = []
    for _ in range(repeats):
        outcome = box.execute(sql)
        if not outcome.ok:
            return None
        times.append(outcome.elapsed_s)
    return _trimmed_mean(times)


class _SandboxOptions(TypedDict):
    timeout_s: float
    max_rows: int
    memory_mib: int


class _Sandboxes:
    """A sandbox per database file, opened on first use; the least recently used are
    closed beyond `_OPEN_AT_MOST`, since each holds a child process."""

    def __init__(self, timeout_s: float, max_rows: int, memory_mib: int):
        self._open: dict[str, SqlSandbox] = {}  # least recently used first
        self._kw: _SandboxOptions = {"timeout_s": timeout_s, "max_rows": max_rows, "memory_mib": memory_mib}

    def __getitem__(self, path: str) -> SqlSandbox:
        box = self._open.pop(path, None)
        if box is None:
            try:
                box = SqlSandbox(path, **self._kw)
            except FileNotFoundError as exc:
                raise MetricError(f"execution_accuracy: {exc}") from None
        self._open[path] = box
        while len(self._open) > _OPEN_AT_MOST:
            self._open.pop(next(iter(self._open))).close()
        return box

    def close(self) -> None:
        for box in self._open.values():
            box.close()


_OPEN_AT_MOST = 4


def _runs(paths: list[str]) -> Iterator[tuple[str, list[int]]]:
    """Consecutive examples that share a database: each run goes to one sandbox as one batch."""
    for path, indices in itertools.groupby(range(len(paths)), key=paths.__getitem__):
        yield path, list(indices)


def _db_paths(db: Any, count: int) -> list[str]:
    if db is None:
        raise MetricError("execution_accuracy needs db=PATH (a SQLite file), or a list of paths, one per example")
    if isinstance(db, (str, os.PathLike)):
        return [os.fspath(db)] * count
    paths = [os.fspath(p) for p in db]
    if len(paths) != count:
        raise MetricError(f"execution_accuracy: got {len(paths)} db paths for {count} examples")
    return paths


class ExecutionAccuracy(Metric):
    name = "execution_accuracy"
    primary_key = "execution_accuracy"

    def score(
        self,
        predictions: Sequence,
        references: Sequence,
        *,
        db: Any = None,
        timeout_s: float = 5.0,
        max_rows: int = 10_000,
        memory_mib: int = DEFAULT_MEMORY_MIB,
        set_semantics: bool = False,
        with_ves: bool = False,
        ves_repeats: int = 10,
        **kwargs: Any,
    ) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        if with_ves and ves_repeats < 1:
            raise MetricError(f"execution_accuracy: ves_repeats must be at least 1, got {ves_repeats}")
        paths = _db_paths(db, len(predictions))
        boxes = _Sandboxes(timeout_s, max_rows, memory_mib)
        statuses: list[str] = []
        errors: dict[int, str | None] = {}  # index -> why the prediction did not run
        rewards: list[float] = []
        try:
            for path, run in _runs(paths):
                box = boxes[path]
                # Gold, prediction, gold, ...: the child runs ahead while we compare.
                queries = (sql for i in run for sql in (references[i], predictions[i]))
                with closing(box.execute_many(queries)) as outcomes:
                    for i in run:
                        gold_out, pred_out = next(outcomes), next(outcomes)
                        statuses.append(_judge(i, references[i], gold_out, pred_out, set_semantics, errors))
                # Timed afterwards, alone: queued queries would distort the timings.
                for i in run:
                    correct = with_ves and statuses[i] == "correct"
                    rewards.append(_ves_reward(box, predictions[i], references[i], ves_repeats) if correct else 0.0)
        finally:
            boxes.close()
        accuracy = statuses.count("correct") / len(statuses)
        scores = {"execution_accuracy": accuracy}
        details: dict = {
            "per_example": statuses,
            "errors": errors,
            "counts": dict(Counter(statuses)),
            "comparison": "set" if set_semantics else "multiset (ordered if gold has ORDER BY)",
            "timeout_s": timeout_s,
            "max_rows": max_rows,
            "memory_mib": memory_mib,
        }
        if with_ves:
            scores["ves"] = mean(rewards)
            details["ves"] = {
                "repeats": ves_repeats,
                "definition": "mean of sqrt(gold_time / pred_time) "
                "over correct predictions, 0 otherwise; 3-sigma outliers dropped",
            }
        return scores, details


def _judge(
    index: int,
    gold: str,
    gold_out: QueryOutcome,
    pred_out: QueryOutcome,
    set_semantics: bool,
    errors: dict[int, str | None],
) -> str:
    """The prediction's status: correct, wrong, or why it failed (recorded in `errors`)."""
    if not gold_out.ok:
        raise GoldQueryError(_gold_message(index, gold, gold_out))
    if not pred_out.ok:
        errors[index] = pred_out.error
        return pred_out.status
    assert pred_out.rows is not None and gold_out.rows is not None  # an OK outcome carries its rows
    ordered = has_top_level_order_by(gold)
    correct = results_match(pred_out.rows, gold_out.rows, ordered=ordered, set_semantics=set_semantics)
    return "correct" if correct else "wrong"


def _ves_reward(box: SqlSandbox, pred: str, gold: str, repeats: int) -> float:
    pred_t, gold_t = _timed(box, pred, repeats), _timed(box, gold, repeats)
    if pred_t is None or gold_t is None or pred_t <= 0:
        return 0.0
    return math.sqrt(gold_t / pred_t)


def _gold_message(index: int, gold: str, outcome: QueryOutcome) -> str:
    hint = " (raise max_rows)" if outcome.status == "too_many_rows" else ""
    hint = " (raise timeout_s)" if outcome.status == "timeout" else hint
    # Only the memory limit can be raised; the per-value length limit is fixed.
    hint = " (raise memory_mib)" if outcome.status == "memory" and "per value" not in (outcome.error or "") else hint
    return (
        f"execution_accuracy: gold query {index} failed ({outcome.status}: {outcome.error}){hint}; "
        f"this is a data error, not a model error. Query: {gold!r}"
    )
