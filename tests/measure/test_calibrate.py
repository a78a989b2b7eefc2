"""`pytest-cegi calibrate` fits a version 2 profile from meter windows and writes one the meter loads."""

import contextlib
import json
import math
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("scipy")

from pytest_cegi.core.window import Method, Window, WindowHandle
from pytest_cegi.measure import calibrate as cal
from pytest_cegi.measure.profile import PROFILE_SCHEMA_VERSION, load_profile, parse_profile


class CpuTimeMeter:
    """Stands in for the codecarbon meter: attributed energy = 20 W x the process's CPU
    time, plus 1 W x wall time (so idle windows have a static power to find)."""

    name = "codecarbon"

    def __init__(self, carbon):
        pass

    def method(self):
        return Method("codecarbon", "attributed (test, 20 W per CPU-second)", "none", 475.0, "test", True, "attributed")

    @contextlib.contextmanager
    def window(self, phase):
        handle = WindowHandle(phase)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield handle
        finally:
            t, c = time.perf_counter() - t0, time.process_time() - c0
            kwh = (20.0 * c + 1.0 * t) / 3.6e6
            handle.result = Window(phase, kwh, 0.0, t, self.method(), cpu_energy_kwh=kwh, cpu_seconds=c)

    def close(self):
        pass


def test_calibrate_writes_a_loadable_version_2_profile(tmp_path, monkeypatch, capsys):
    import pytest_cegi.measure.meters.codecarbon as cc

    monkeypatch.setattr(cc, "CodecarbonMeter", CpuTimeMeter)
    out = tmp_path / "mine.json"
    argv = ["-o", str(out), "--name", "mine", "--version", "7", "--seconds", "0.03", "--repeats", "2"]
    argv += ["--idle-seconds", "0.2", "--idle-repeats", "2", "--size", "64", "--rows", "4", "--elements", "65536"]
    rc = cal.calibrate_main([*argv, "--note", "A test profile."])
    printed = capsys.readouterr()
    assert rc == 0, printed
    profile = load_profile(str(out))
    assert profile.label == "mine@7"
    assert profile.schema_version == PROFILE_SCHEMA_VERSION == 2
    # idle: 1 W x wall plus 20 W x whatever CPU time the process spent asleep (timer ticks)
    assert 0.99 <= profile.static_watts < 1.5
    assert all(p.per_second > 0 and math.isfinite(p.per_second) for p in profile.classes.values())
    assert all(p.per_second > 0 and math.isfinite(p.per_second) for p in profile.units.values())
    data = json.loads(out.read_text())
    parse_profile(data, "again")
    assert "attributed (test, 20 W per CPU-second)" in data["source"]
    assert data["source"].endswith("A test profile.")
    calib = data["calibration"]
    assert calib["time_basis"].startswith("process CPU seconds")
    names = set(calib["workloads"])
    assert {"mm-fp32", "mm-fp64", "bytes-add", "bytes-copy", "dispatch-tiny-add", "dispatch-module-stack"} <= names
    for name, w in calib["workloads"].items():
        assert len(w["runs"]) == 2
        assert w["work_per_call"]["dispatches"] > 0, name
        assert w["joules_per_call"] == min(r["joules"] for r in w["runs"]) / w["runs"][0]["calls"]
    assert calib["workloads"]["mm-fp32"]["work_per_call"]["flops"] == {"fp32": 2 * 64**3}
    assert calib["workloads"]["dispatch-tiny-add"]["work_per_call"]["dispatches"] == 1000
    assert set(calib["residuals"]) == names
    assert all(r["ratio"] > 0 for r in calib["residuals"].values())
    assert calib["summary"]["max_abs_log_ratio"] >= 0 and calib["summary"]["worst"] in names
    assert "max |log ratio|" in printed.out and "dispatch-module-stack" in printed.out
    assert f"CEGI_FLOPS_PROFILE={out}" in printed.out


def test_calibrate_rejects_bad_arguments(capsys):
    assert cal.calibrate_main(["--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err
    assert cal.calibrate_main(["--repeats", "0"]) == 2


# -- the fit, on synthetic measurements -----------------------------------------------

# Work per call shaped like the real workloads' counts (size 512, rows 64).
WORK = {
    "mm-fp32": {"flops": {"fp32": 268435456}, "bytes": 3145728, "dispatches": 1},
    "mm-fp64": {"flops": {"fp64": 268435456}, "bytes": 6291456, "dispatches": 1},
    "mm-bf16": {"flops": {"bf16": 268435456}, "bytes": 1572864, "dispatches": 1},
    "mm-fp16": {"flops": {"fp16": 268435456}, "bytes": 1572864, "dispatches": 1},
    "int8": {"flops": {"int8": 33554432, "quant": 65536}, "bytes": 725504, "dispatches": 3},
    "int4": {"flops": {"int4": 33554432}, "bytes": 665664, "dispatches": 2},
    "quant": {"flops": {"quant": 262144}, "bytes": 788480, "dispatches": 1},
    "add": {"flops": {}, "bytes": 100663296, "dispatches": 1},
    "copy": {"flops": {}, "bytes": 67108864, "dispatches": 1},
    "tiny": {"flops": {}, "bytes": 12000, "dispatches": 1000},
    "modules": {"flops": {"fp32": 6400}, "bytes": 24400, "dispatches": 150},
}
TAU = {  # seconds per unit
    "fp32": 1 / 7e10,
    "fp64": 1 / 3e10,
    "bf16": 1 / 1.8e11,
    "fp16": 1 / 2.7e9,
    "int8": 1 / 4e10,
    "int4": 1 / 7e10,
    "quant": 1 / 2.5e8,
    "bytes": 1 / 1.6e10,
    "dispatch": 2e-6,
}
WATTS = 60.0  # dynamic joules per second of each unit's time, varied per unit below
JOULES = {u: tau * WATTS * (1 + 0.1 * i) for i, (u, tau) in enumerate(TAU.items())}


def _synthetic(static_watts, work=WORK, tau=TAU, joules=JOULES):
    out = []
    for name, w in work.items():
        t = sum(cal.unit_amount(w, u) * tau[u] for u in tau)
        e = sum(cal.unit_amount(w, u) * joules[u] for u in joules) + static_watts * t
        out.append(cal.Measurement(name, w, t, e))
    return out


@pytest.mark.parametrize("static_watts", [0.0, 0.003, 25.0])
def test_fit_recovers_known_coefficients(static_watts):
    fit = cal.fit(_synthetic(static_watts), static_watts)
    assert fit.clamped == [] and fit.unmeasured == []
    assert fit.diagnostics["time_fit"]["converged"] and fit.diagnostics["energy_fit"]["converged"]
    for unit in TAU:
        assert fit.seconds_per_unit[unit] == pytest.approx(TAU[unit], rel=0.01), unit
        assert fit.joules_per_unit[unit] == pytest.approx(JOULES[unit], rel=0.01), unit


def test_fitted_profile_prices_the_workloads_back_exactly():
    measurements = _synthetic(2.0)
    fit = cal.fit(measurements, 2.0)
    profile = parse_profile(_profile_dict(fit), "synthetic")
    checked = cal.residuals(profile, measurements)
    assert checked["summary"]["max_abs_log_ratio"] < 1e-6
    assert all(r["time_ratio"] == pytest.approx(1.0, rel=1e-6) for r in checked["workloads"].values())


def test_a_unit_whose_time_fits_to_zero_is_clamped_to_a_positive_rate():
    tau = dict(TAU, int4=0.0)  # int4 costs nothing: an infinite rate
    joules = dict(JOULES, int4=0.0)
    measurements = _synthetic(0.0, tau=tau, joules=joules)
    fit = cal.fit(measurements, 0.0)
    assert fit.clamped == ["int4"]
    int4_call = next(m for m in measurements if m.name == "int4")  # the only workload with int4 FLOPs
    assert fit.seconds_per_unit["int4"] == pytest.approx(1e-6 * int4_call.seconds / 33554432)
    assert fit.joules_per_unit["int4"] == pytest.approx(0.0, abs=1e-15)
    parse_profile(_profile_dict(fit), "clamped")  # a positive, finite rate: the profile validates


def test_conflicting_workloads_meet_at_the_geometric_mean():
    """Two dispatch-bound workloads 4x apart per dispatch: the log-ratio fit prices
    one 2x over and the other 2x under, whatever their sizes."""
    work = {
        "tiny": {"flops": {}, "bytes": 0, "dispatches": 1000},
        "modules": {"flops": {}, "bytes": 0, "dispatches": 150},
    }
    measurements = [
        cal.Measurement("tiny", work["tiny"], 1000 * 2e-6, 1000 * 2e-6 * 30),
        cal.Measurement("modules", work["modules"], 150 * 8e-6, 150 * 8e-6 * 30),
    ]
    fit = cal.fit(measurements, 0.0)
    assert fit.seconds_per_unit["dispatch"] == pytest.approx(4e-6, rel=1e-6)
    assert fit.joules_per_unit["dispatch"] == pytest.approx(4e-6 * 30, rel=1e-6)
    assert fit.unmeasured == [*cal.CLASSES, "bytes"]


def test_fit_needs_scipy(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(RuntimeError, match="pip install scipy"):
        cal.fit(_synthetic(0.0), 0.0)


def _profile_dict(fit):
    data = {
        "schema": "pytest-cegi/flops-profile",
        "schema_version": 2,
        "name": "synthetic",
        "version": "1",
        "source": "synthetic measurements",
        "static_watts": fit.static_watts,
        "classes": {
            c: {"joules_per_flop": fit.joules_per_unit[c], "flops_per_second": 1 / fit.seconds_per_unit[c]}
            for c in cal.CLASSES
        },
        "bytes": {
            "joules_per_byte": fit.joules_per_unit["bytes"],
            "bytes_per_second": 1 / fit.seconds_per_unit["bytes"],
        },
        "dispatch": {
            "joules_per_dispatch": fit.joules_per_unit["dispatch"],
            "dispatches_per_second": 1 / fit.seconds_per_unit["dispatch"],
        },
    }
    return json.loads(json.dumps(data))
