"""Fixtures for the model-stack tests: tiny offline models and a fake recorder.

The recorder stands in for the `cegi` fixture: `measure(phase)` yields a
WindowHandle whose result is a Window with energy proportional to elapsed time.
"""

from __future__ import annotations

import dataclasses
import os
import time
from contextlib import contextmanager

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pytest_cegi.core.window import Method, Window, WindowHandle

FAKE_METHOD = Method(
    meter="fake",
    cpu="modelled (test)",
    gpu="none",
    carbon_factor_g_per_kwh=400.0,
    carbon_factor_source="test",
    estimate=True,
)


class FakeRecorder:
    watts = 50.0

    def __init__(self):
        self.windows: list[Window] = []

    @contextmanager
    def measure(self, phase: str = "inference"):
        handle = WindowHandle(phase)
        start = time.perf_counter()
        yield handle
        seconds = time.perf_counter() - start
        kwh = self.watts * seconds / 3.6e6
        handle.result = Window(phase, energy_kwh=kwh, emissions_kg=kwh * 0.4, duration_s=seconds, method=FAKE_METHOD)
        self.windows.append(handle.result)

    def add_window(self, window: Window) -> None:
        self.windows.append(window)

    identity = "fake-recorder"

    def meter_identity(self) -> str:
        return self.identity

    def replay_window(self, window: Window) -> None:
        self.windows.append(dataclasses.replace(window, cached=True))


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread, much faster on a busy shared machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def recorder():
    return FakeRecorder()


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("cegi-cache")


@pytest.fixture(scope="session")
def tiny_causal(cache_root) -> str:
    from pytest_cegi.models.tiny_models import build_demo

    return str(build_demo(cache_dir=cache_root))


@pytest.fixture(scope="session")
def tiny_seq2seq(cache_root) -> str:
    from pytest_cegi.models.tiny_models import build_demo

    # Few steps: these tests check loading and counting, not quality.
    return str(build_demo(kind="seq2seq", cache_dir=cache_root, steps=40))


@pytest.fixture(scope="session")
def demo_data():
    from pytest_cegi.models.tiny_models import demo_task

    return {"train": demo_task(192, seed=1), "test": demo_task(64, seed=2)}
