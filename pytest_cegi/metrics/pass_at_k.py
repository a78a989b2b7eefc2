"""pass@k for code generation (Chen et al. 2021, the HumanEval paper).

Each problem has n generated samples; a sample passes when its problem's test code,
run after it in the same namespace, raises nothing. With c passing samples the
problem's unbiased estimate is ``1 - C(n - c, k) / C(n, k)``, averaged over problems.
Samples only ever run inside `CodeSandbox`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_cegi.metrics.base import Metric, MetricError, mean, reject_options
from pytest_cegi.metrics.code_sandbox import CodeSandbox, SampleOutcome


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator: the chance that k of the n samples, drawn without
    replacement, include at least one passing one. Exact integer binomials, so the one
    rounding is the final division (no cancellation in 1 - x)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    total = math.comb(n, k)
    return (total - math.comb(n - c, k)) / total


def _ks(k: Any) -> list[int]:
    values = list(k) if isinstance(k, (list, tuple, set, frozenset)) else [k]
    if not values:
        raise MetricError("pass_at_k: k is an empty list")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MetricError(f"pass_at_k: k must be a positive int or a list of them, got {value!r}")
    return sorted(set(values))


def _problems(predictions: Sequence, references: Sequence, ks: list[int]) -> list[list[str]]:
    samples = []
    for i, (preds, test) in enumerate(zip(predictions, references, strict=True)):
        if isinstance(preds, str) or not isinstance(preds, (list, tuple)):
            raise MetricError(
                f"pass_at_k: prediction {i} must be a list of code samples (strings), got {type(preds).__name__}"
            )
        if not preds or not all(isinstance(p, str) for p in preds):
            raise MetricError(f"pass_at_k: prediction {i} must be a non-empty list of strings")
        if not isinstance(test, str):
            raise MetricError(f"pass_at_k: reference {i} must be test code (a string), got {type(test).__name__}")
        if max(ks) > len(preds):
            raise MetricError(
                f"pass_at_k: problem {i} has {len(preds)} samples, fewer than k={max(ks)}; "
                f"pass@k needs at least k samples per problem"
            )
        samples.append(list(preds))
    return samples


def _outcome_detail(outcome: SampleOutcome) -> dict:
    return {"status": outcome.status, "why": outcome.why, "elapsed_s": outcome.elapsed_s}


class PassAtK(Metric):
    name = "pass_at_k"
    primary_key = "pass@1"

    def score(
        self,
        predictions: Sequence,
        references: Sequence,
        *,
        k: Any = 1,
        timeout_s: float = 5.0,
        memory_mb: int = 512,
        workers: int = 1,
        allow_unsandboxed: bool = False,
        **kwargs: Any,
    ) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        ks = _ks(k)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise MetricError(f"pass_at_k: workers must be a positive int, got {workers!r}")
        problems = _problems(predictions, references, ks)
        box = CodeSandbox(timeout_s=timeout_s, memory_mb=memory_mb, allow_unsandboxed=allow_unsandboxed)
        jobs = [(code, test) for samples, test in zip(problems, references, strict=True) for code in samples]
        with ThreadPoolExecutor(max_workers=workers) as pool:  # each sample is its own process
            outcomes = list(pool.map(lambda job: box.run(*job), jobs))
        per_problem: list[dict[str, Any]]
        per_problem, cursor = [], 0
        for samples in problems:
            mine = outcomes[cursor : cursor + len(samples)]
            cursor += len(samples)
            per_problem.append(
                {"n": len(mine), "c": sum(o.passed for o in mine), "samples": [_outcome_detail(o) for o in mine]}
            )
        scores = {f"pass@{kk}": mean([pass_at_k(p["n"], p["c"], kk) for p in per_problem]) for kk in ks}
        details = {
            "per_problem": per_problem,
            "counts": dict(Counter(o.status for o in outcomes)),
            "k": ks,
            "sandbox": box.describe(),
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            # what the kernel gave: Landlock ABI (0: none), whether the PID range was capped
            "sandbox_layers": next((o.box for o in outcomes if o.box), {}),
        }
        return scores, details


__all__ = ["PassAtK", "pass_at_k"]
