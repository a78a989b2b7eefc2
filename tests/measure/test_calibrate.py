"""`pytest-cegi calibrate` fits a profile from meter windows and writes one the meter loads."""

import contextlib
import json
import time

import pytest

pytest.importorskip("torch")

from pytest_cegi.core.window import Method, Window, WindowHandle
from pytest_cegi.measure import calibrate as cal
from pytest_cegi.measure.meters.flops import load_profile


class WattMeter:
    """Stands in for the codecarbon meter: energy = 20 W x wall time."""

    name = "codecarbon"

    def __init__(self, carbon):
        pass

    def method(self):
        return Method("codecarbon", "modelled (test, 20 W)", "none", 475.0, "test", True)

    @contextlib.contextmanager
    def window(self, phase):
        handle = WindowHandle(phase)
        t0 = time.perf_counter()
        try:
            yield handle
        finally:
            t = time.perf_counter() - t0
            handle.result = Window(phase, 20.0 * t / 3.6e6, 0.0, t, self.method())

    def close(self):
        pass


def test_calibrate_writes_a_loadable_profile(tmp_path, monkeypatch, capsys):
    import pytest_cegi.measure.meters.codecarbon as cc

    monkeypatch.setattr(cc, "CodecarbonMeter", WattMeter)
    out = tmp_path / "mine.json"
    rc = cal.calibrate_main(
        [
            "-o",
            str(out),
            "--name",
            "mine",
            "--version",
            "7",
            "--seconds",
            "0.05",
            "--repeats",
            "1",
            "--idle-seconds",
            "0.05",
            "--size",
            "64",
            "--rows",
            "4",
        ]
    )
    assert rc == 0, capsys.readouterr()
    profile = load_profile(str(out))
    assert profile.label == "mine@7"
    assert profile.static_watts == pytest.approx(20.0, rel=0.05)
    data = json.loads(out.read_text())
    assert "modelled (test, 20 W)" in data["source"]
    assert "fp32" in data["calibration"]["measurements"]
    assert data["classes"]["fp32"]["flops_per_second"] > 0
    assert f"CEGI_FLOPS_PROFILE={out}" in capsys.readouterr().out


def test_calibrate_rejects_bad_arguments(capsys):
    assert cal.calibrate_main(["--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err
