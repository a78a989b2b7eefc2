"""The duet on one GPU, through the NVML path with a fake NVML the test controls
(tests/measure/fake_nvml.py): two sides share one device whose energy counter is the
whole device's. Measured together, each side's window holds the other's energy too;
alternating (CEGI_DUET_MODE=alternate), each window holds its own work alone.
The real NVML path is unverified here (no GPU machine)."""

import importlib.util
import threading
import time
from pathlib import Path

import pytest

from pytest_cegi.core.settings import Carbon
from pytest_cegi.measure.devices import Device
from pytest_cegi.measure.duet import DuetPacer
from pytest_cegi.measure.meters.device import DeviceMeter
from pytest_cegi.measure.meters.fake import FakeMeter

MJ_PER_KWH = 3.6e9
OWN_MJ = {"base": 400, "head": 1000}  # head does 2.5x the GPU work of base
REPEATS = 3


@pytest.fixture
def nvml(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("fake_nvml", Path(__file__).with_name("fake_nvml.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("FAKE_NVML_DIR", str(tmp_path))
    monkeypatch.setenv("FAKE_NVML_GPUS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", module.uuid(0))  # both sides: the one GPU
    monkeypatch.setenv("CEGI_FAKE_KWH", "1e-9")  # the CPU part, the same on both sides
    return module


def _duet(tmp_path, nvml, mode):
    steps = tmp_path / f"steps-{mode}"
    steps.mkdir()
    device = Device(0, "Fake H100", nvml.uuid(0))
    gpu_kwh: dict[str, list[float]] = {"base": [], "head": []}

    def side(role):
        meter = DeviceMeter(FakeMeter(Carbon(None, 400.0, "test")), device, nvml)
        pacer = DuetPacer(steps, role, timeout_s=30.0, mode=mode)
        for i in range(REPEATS):
            assert pacer.wait(f"test {i}")
            with meter.window("inference") as handle:
                for _ in range(10):  # the work runs a while, so together the windows overlap
                    nvml.burn(OWN_MJ[role] // 10)
                    time.sleep(0.005)
            pacer.done()
            gpu_kwh[role].append(handle.result.gpu_energy_kwh)

    threads = [threading.Thread(target=side, args=(role,)) for role in ("base", "head")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {role: [kwh * MJ_PER_KWH for kwh in values] for role, values in gpu_kwh.items()}


def test_alternating_on_one_gpu_gives_each_window_its_own_energy(tmp_path, nvml):
    measured = _duet(tmp_path, nvml, "alternate")
    for role, own in OWN_MJ.items():
        assert measured[role] == pytest.approx([own] * REPEATS)
    # so the paired ratio is the true one
    assert [h / b for b, h in zip(measured["base"], measured["head"], strict=True)] == pytest.approx([2.5] * REPEATS)


def test_together_on_one_gpu_each_window_holds_the_other_sides_energy(tmp_path, nvml):
    measured = _duet(tmp_path, nvml, "together")
    # Overlapping windows on one device: each side is charged some of the other's work,
    # so the paired ratio shrinks towards 1 and a 2.5x regression reads smaller.
    assert sum(measured["base"]) > REPEATS * OWN_MJ["base"]
    assert sum(measured["head"]) / sum(measured["base"]) < 2.5
