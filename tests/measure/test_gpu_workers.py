"""One xdist worker per GPU, on a simulated 4-GPU host (a fake NVML: fake_nvml.py).

No GPU is needed: the device list and every device's energy counter come from the
fake, which the test's own "GPU work" (fake_nvml.burn) advances. What this cannot
check is the real path: pynvml on a driver, CUDA honouring CUDA_VISIBLE_DEVICES.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from pytest_cegi.core.meter_traits import METER_TRAITS
from pytest_cegi.core.window import Method, Window, WindowHandle
from pytest_cegi.measure import devices
from pytest_cegi.measure.meters.device import DeviceMeter

FAKE = Path(__file__).with_name("fake_nvml.py")
GPUS = 4

# Four tasks in four files (xdist's loadfile keeps a file on one worker); each test
# burns its own amount of "GPU energy" in steps, while the other workers do the same,
# so windows on different devices overlap.
TASK_FILE = """
import os, time
import pytest
import fake_nvml

@pytest.mark.cegi(task="t{n}")
@pytest.mark.parametrize("mj", [{base}, {other}])
def test_work(cegi, mj):
    with cegi.measure():
        for _ in range(5):
            device = fake_nvml.burn(mj // 5)
            time.sleep(0.05)
    cegi.record_score(1.0)
    with open(os.path.join(os.environ["FAKE_NVML_DIR"], "log.jsonl"), "a") as fh:
        fh.write(__import__("json").dumps({{"nodeid": os.environ["PYTEST_CURRENT_TEST"].split(" ")[0],
            "worker": os.environ["PYTEST_XDIST_WORKER"], "device": device, "mj": mj,
            "visible": os.environ["CUDA_VISIBLE_DEVICES"]}}) + "\\n")
"""


@pytest.fixture
def host(pytester, monkeypatch, tmp_path):
    """A pytester project on a simulated host with 4 GPUs."""
    shutil.copy(FAKE, pytester.path / "fake_nvml.py")
    counters = tmp_path / "nvml"
    counters.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PYTEST_CEGI_NVML", "fake_nvml")
    monkeypatch.setenv("FAKE_NVML_DIR", str(counters))
    monkeypatch.setenv("FAKE_NVML_GPUS", str(GPUS))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for n in range(GPUS):
        # ids differ per file so node ids are distinct; amounts differ per test
        pytester.makepyfile(**{f"test_task{n}": TASK_FILE.format(n=n, base=1000 * (n + 1), other=500 * (n + 1))})
    return pytester, counters


def _run(pytester, counters, *args):
    save = counters.parent / "run.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cegi-meter=fake", f"--cegi-save={save}", *args)
    log = [json.loads(line) for line in (counters / "log.jsonl").read_text().splitlines()]
    return result, json.loads(save.read_text()), log


def test_four_workers_each_meter_their_own_gpu(host):
    pytester, counters = host
    result, run, log = _run(pytester, counters, "-n", "auto")  # auto: one worker per GPU
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*one xdist worker per GPU: worker gwK uses GPU K mod 4*"])
    assert {entry["worker"] for entry in log} == {"gw0", "gw1", "gw2", "gw3"}  # 4 files on 4 workers

    # the right device per worker: gwK on GPU K, by UUID, before CUDA could start
    for entry in log:
        k = int(entry["worker"][2:])
        assert entry["device"] == k and entry["visible"] == f"GPU-fake-{k:04d}"
    workers_seen = {e["worker"] for e in log}
    assert len({e["device"] for e in log}) == len(workers_seen)

    # records name their device, and their GPU energy is their own work, exactly
    records = {r["nodeid"]: r for r in run["records"]}
    assert len(records) == 2 * GPUS
    for entry in log:
        record = records[entry["nodeid"]]
        assert record["device"] == f"GPU {entry['device']}: Fake H100 (GPU-fake-{entry['device']:04d})"
        (window,) = record["windows"]
        assert window["gpu_energy_kwh"] == pytest.approx(entry["mj"] / 3.6e9, rel=1e-12)
        assert window["energy_kwh"] == pytest.approx(1e-6 + entry["mj"] / 3.6e9, rel=1e-12)
        assert "GPU " + str(entry["device"]) in window["method"]["gpu"] and "only" in window["method"]["gpu"]

    # no double counting: the records add up to what the devices' counters gained
    counted = sum(r["windows"][0]["gpu_energy_kwh"] for r in run["records"])
    drawn = sum(int(p.read_text()) for p in counters.glob("gpu*.mJ")) / 3.6e9
    assert counted == pytest.approx(drawn, rel=1e-12)


def test_more_workers_than_gpus_share_devices_in_turn(host, monkeypatch):
    pytester, counters = host
    monkeypatch.setenv("FAKE_NVML_GPUS", "2")
    result, run, log = _run(pytester, counters, "-n", "4")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*4 workers share 2 GPUs, so windows on one device take turns*"])
    for entry in log:
        assert entry["device"] == int(entry["worker"][2:]) % 2
    counted = sum(r["windows"][0]["gpu_energy_kwh"] for r in run["records"])
    drawn = sum(int(p.read_text()) for p in counters.glob("gpu*.mJ")) / 3.6e9
    assert counted == pytest.approx(drawn, rel=1e-12)
    for entry in log:  # serialised per device: each window holds exactly its own burn
        record = next(r for r in run["records"] if r["nodeid"] == entry["nodeid"])
        assert record["windows"][0]["gpu_energy_kwh"] == pytest.approx(entry["mj"] / 3.6e9, rel=1e-12)


def test_without_gpus_nothing_is_pinned(pytester, monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pytester.makepyfile(
        test_plain="""
import os, pytest

@pytest.mark.cegi(task="t")
def test_a(cegi):
    with cegi.measure():
        pass
    cegi.record_score(1.0)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
"""
    )
    save = tmp_path / "run.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--cegi-meter=fake", f"--cegi-save={save}", "-n", "2"
    )
    assert result.ret == 0, result.stdout.str()
    assert "one xdist worker per GPU" not in result.stdout.str()
    (record,) = json.loads(save.read_text())["records"]
    assert record["device"] is None and record["windows"][0]["method"]["gpu"] == "none"


# -- the pieces, without a session -------------------------------------------------------


class _Lib:
    """A minimal NVML with two GPUs whose counters the test sets."""

    def __init__(self, count=2, broken=False):
        self.count, self.broken, self.mj = count, broken, {0: 0, 1: 0}

    def nvmlInit(self):
        if not self.count:
            raise RuntimeError("no driver")

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return "Fake"

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-{h}aaa"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.broken:
            raise RuntimeError("Not Supported")
        return self.mj[h]


def test_pin_worker_respects_the_users_visible_devices():
    lib = _Lib()
    env = {"PYTEST_XDIST_WORKER": "gw3", "PYTEST_XDIST_WORKER_COUNT": "4", "CUDA_VISIBLE_DEVICES": "1"}
    pin = devices.pin_worker(env, lib)
    assert pin.device.index == 1 and pin.shared and env["CUDA_VISIBLE_DEVICES"] == "GPU-1aaa"
    assert devices.pin_worker({"CUDA_VISIBLE_DEVICES": "0"}, lib) is None  # not a worker
    env = {"PYTEST_XDIST_WORKER": "gw0"}
    assert devices.pin_worker(env, _Lib(count=0)) is None and "CUDA_VISIBLE_DEVICES" not in env
    with pytest.raises(devices.PinError, match="'MIG-1' names no single GPU"):
        devices.pin_worker({"PYTEST_XDIST_WORKER": "gw0", "CUDA_VISIBLE_DEVICES": "MIG-1"}, lib)


class _Inner:
    name = "fake"
    traits = METER_TRAITS["fake"]
    METHOD = Method("fake", "fake", "NVML", 500.0, "test", True)

    def __init__(self, lib, gpu_kwh=0.5):
        self.lib, self.gpu_kwh = lib, gpu_kwh

    def method(self):
        return self.METHOD

    def window(self, phase):
        import contextlib

        @contextlib.contextmanager
        def cm():
            handle = WindowHandle(phase)
            yield handle
            # the whole machine's GPUs, as codecarbon reads them: replaced by the device's own
            total = 1.0 + self.gpu_kwh
            handle.result = Window(
                phase=phase,
                energy_kwh=total,
                emissions_kg=0.5 * total,
                duration_s=1.0,
                method=self.METHOD,
                cpu_energy_kwh=1.0,
                gpu_energy_kwh=self.gpu_kwh,
            )

        return cm()

    def close(self):
        pass


def test_device_meter_replaces_the_machines_gpu_figure_with_its_device():
    lib = _Lib()
    meter = DeviceMeter(_Inner(lib), devices.Device(1, "Fake", "GPU-1aaa"), lib)
    with meter.window("inference") as handle:
        lib.mj[1] += 3.6e9  # 1 kWh on this worker's device
        lib.mj[0] += 7.2e9  # a neighbour's device: not this window's
    w = handle.result
    assert (w.gpu_energy_kwh, w.energy_kwh, w.emissions_kg) == (1.0, 2.0, 1.0)
    assert w.method.gpu.startswith("NVML energy counter of GPU 1: Fake")


def test_an_unreadable_counter_makes_the_window_invalid():
    lib = _Lib(broken=True)
    meter = DeviceMeter(_Inner(lib), devices.Device(0, "Fake", None), lib)
    with meter.window("inference") as handle:
        pass
    assert handle.result.error.startswith("NVML energy counter of GPU 0: Fake unreadable: RuntimeError: Not Supported")
    assert handle.result.invalid_reason


def test_a_run_started_inside_a_worker_is_not_pinned(host, monkeypatch):
    """pytest started from an xdist worker inherits PYTEST_XDIST_WORKER: its controller
    must not keep a pin (its own workers would all see one GPU)."""
    pytester, counters = host
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    result, run, log = _run(pytester, counters, "-n", "4")
    assert result.ret == 0, result.stdout.str()
    for entry in log:
        assert entry["device"] == int(entry["worker"][2:])
    assert {e["worker"] for e in log} == {"gw0", "gw1", "gw2", "gw3"}
