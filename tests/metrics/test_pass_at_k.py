import math
import sys

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics import code_sandbox
from pytest_cegi.metrics.pass_at_k import pass_at_k

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux namespaces")

GOOD = "def add(a, b):\n    return a + b"
WRONG = "def add(a, b):\n    return a - b"
BROKEN = "def add(a, b) return a"
TEST = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"


@pytest.fixture(scope="module")
def isolated():
    problem = code_sandbox.isolation_problem()
    if problem:
        pytest.skip(f"no namespaces here: {problem}")


def stable_estimator(n: int, c: int, k: int) -> float:
    """The numerically stable product form from the Codex paper (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def test_estimator_matches_the_papers_product_form():
    worst = max(
        abs(pass_at_k(n, c, k) - stable_estimator(n, c, k))
        for n in range(1, 40)
        for c in range(n + 1)
        for k in range(1, n + 1)
    )
    assert worst < 1e-12
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 10, 1) == 1.0 and pass_at_k(3, 1, 1) == 1 / 3
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_pass_at_k_scores_and_outcomes(isolated):
    preds = [[GOOD, WRONG, BROKEN, GOOD], [WRONG, WRONG, "while True:\n    pass", GOOD]]
    result = metrics.compute("pass_at_k", preds, [TEST, TEST], k=[1, 2, 4], timeout_s=1)
    assert result.key == "pass@1"
    expected = {f"pass@{k}": (pass_at_k(4, 2, k) + pass_at_k(4, 1, k)) / 2 for k in (1, 2, 4)}
    assert result.scores == pytest.approx(expected)
    first, second = result.details["per_problem"]
    assert (first["n"], first["c"], second["c"]) == (4, 2, 1)
    assert [s["status"] for s in first["samples"]] == ["passed", "failed", "error", "passed"]
    assert [s["status"] for s in second["samples"]] == ["failed", "failed", "timeout", "passed"]
    assert "SyntaxError" in first["samples"][2]["why"]
    assert "AssertionError" in first["samples"][1]["why"]
    assert result.details["counts"] == {"passed": 3, "failed": 3, "error": 1, "timeout": 1}
    assert "unshare" in result.details["sandbox"]
    assert set(result.details["sandbox_layers"]) == {"landlock_abi", "pid_cap"}


def test_primary_is_the_smallest_k_when_1_is_not_requested(isolated):
    result = metrics.compute("pass_at_k", [[GOOD, WRONG, WRONG]], [TEST], k=(3, 2))
    assert result.key == "pass@2" and list(result.scores) == ["pass@2", "pass@3"]
    assert result.value == pytest.approx(pass_at_k(3, 1, 2))


def test_workers_run_samples_in_parallel_with_the_same_result(isolated):
    preds = [[GOOD, WRONG], [BROKEN, GOOD]]
    serial = metrics.compute("pass_at_k", preds, [TEST, TEST], k=[1, 2])
    parallel = metrics.compute("pass_at_k", preds, [TEST, TEST], k=[1, 2], workers=3)
    assert serial.scores == parallel.scores == {"pass@1": 0.5, "pass@2": 1.0}


def test_k_larger_than_the_samples_names_the_problem():
    with pytest.raises(metrics.MetricError, match="problem 1 has 2 samples, fewer than k=3"):
        metrics.compute("pass_at_k", [[GOOD, GOOD, GOOD], [GOOD, WRONG]], [TEST, TEST], k=[1, 3])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "positive int"),
        ({"k": []}, "empty list"),
        ({"k": True}, "positive int"),
        ({"k": 1.5}, "positive int"),
        ({"workers": 0}, "workers"),
        ({"timeout_s": -1}, "timeout_s must be a positive number"),
        ({"n": 3}, "unexpected options"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(metrics.MetricError, match=message):
        metrics.compute("pass_at_k", [[GOOD]], [TEST], **kwargs)


def test_bad_inputs():
    with pytest.raises(metrics.MetricError, match="prediction 0 must be a list of code samples"):
        metrics.compute("pass_at_k", [GOOD], [TEST])
    with pytest.raises(metrics.MetricError, match="non-empty list of strings"):
        metrics.compute("pass_at_k", [[]], [TEST])
    with pytest.raises(metrics.MetricError, match="reference 0 must be test code"):
        metrics.compute("pass_at_k", [[GOOD]], [["assert True"]])


def test_without_namespaces_it_refuses_and_names_the_opt_in(monkeypatch):
    monkeypatch.setattr(code_sandbox, "isolation_problem", lambda python=None: "unshare: Operation not permitted")
    with pytest.raises(metrics.MetricError, match=r"allow_unsandboxed=True") as info:
        metrics.compute("pass_at_k", [[GOOD]], [TEST])
    assert "Operation not permitted" in str(info.value)
    result = metrics.compute("pass_at_k", [[GOOD, WRONG]], [TEST], allow_unsandboxed=True)
    assert result.value == 0.5 and result.details["sandbox"].startswith("UNSANDBOXED")
