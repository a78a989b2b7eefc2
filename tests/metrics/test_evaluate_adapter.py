"""The evaluate adapter with a real `evaluate` module, loaded offline from a local script.

`evaluate.load(<path to a .py file>)` reads the script from disk; with the Hub switched
off by environment and every socket connection made to fail, a network attempt would
fail these tests.
"""

import importlib.util
import socket
import sys
from pathlib import Path

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics import EvaluateMetric

SCRIPT = Path(__file__).parent / "local_metric" / "local_exact.py"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("evaluate") is None,
    reason="the evaluate package is not installed (pip install 'pytest-cegi[metrics]')",
)


def _no_network(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args!r}")


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """Hub off (set before evaluate is first imported, when it is), sockets refuse."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in OFFLINE.items():
            mp.setenv(name, value)
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        import evaluate
        import evaluate.config

        if "evaluate_modules" not in sys.modules:
            # Keep the copy evaluate makes of the script out of the user's cache.
            mp.setattr(evaluate.config, "HF_MODULES_CACHE", str(tmp_path_factory.mktemp("hf_modules")))
        yield evaluate


@pytest.fixture(scope="module")
def local_exact(offline):
    return offline.load(str(SCRIPT), keep_in_memory=True)


def test_the_loaded_module_is_a_real_evaluate_metric(offline, local_exact):
    assert isinstance(local_exact, offline.Metric)
    assert local_exact.name == "local_exact"


def test_compute_through_the_adapter(local_exact):
    result = metrics.compute(local_exact, ["Paris", "rome", "Oslo"], ["paris", "rome", "Bergen"], ignore_case=True)
    assert (result.name, result.key) == ("local_exact", "local_exact")
    assert result.value == pytest.approx(2 / 3)
    assert result.scores == {"local_exact": pytest.approx(2 / 3)}
    assert result.details["extras"] == {"hits": [1, 1, 0]}
    assert result.details["source"] == "evaluate-compatible object"
    # Options reach the module's _compute.
    assert metrics.compute(local_exact, ["Paris"], ["paris"]).value == 0.0


def test_wrapped_module_with_chosen_key_and_direction(local_exact):
    wrapped = EvaluateMetric(local_exact, key="local_exact", higher_is_better=True)
    result = metrics.compute(wrapped, ["a", "b"], ["a", "c"])
    assert (result.key, result.value, result.higher_is_better) == ("local_exact", 0.5, True)
    # A chosen key the module does not produce is an error, not a silent fallback.
    with pytest.raises(metrics.MetricError, match="no score named 'f1'.*local_exact"):
        metrics.compute(EvaluateMetric(local_exact, key="f1"), ["a"], ["a"])


def test_the_guard_would_catch_a_network_attempt(offline):
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("huggingface.co", 443))
