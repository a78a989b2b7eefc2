"""The real codecarbon meter: one tracker per process, task windows, honest labels."""

import pytest

from pytest_cegi.core.settings import Carbon, Settings
from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter


def _work():
    return sum(i * i for i in range(200_000))


def test_windows_share_one_tracker_and_measure_energy():
    meter = CodecarbonMeter(Settings().carbon)
    with meter.window("inference") as first:
        _work()
    tracker = meter._tracker
    with meter.window("finetune") as second:
        _work()
    assert meter._tracker is tracker, "a new tracker per window"
    for handle in (first, second):
        w = handle.result
        assert w.invalid_reason is None
        assert w.energy_kwh > 0 and w.duration_s > 0
        assert w.emissions_kg == pytest.approx(w.energy_kwh * 475 / 1000, rel=1e-6)
    assert second.result.phase == "finetune"
    method = second.result.method
    # The gate's figure is attributed to this process; codecarbon's machine reading
    # (RAPL, or modelled from TDP x load) is named beside it.
    assert method.basis == "attributed"
    assert method.cpu.startswith("attributed: ")
    machine = method.cpu.split("(machine reading: ", 1)[1]
    assert machine.startswith(("RAPL", "modelled ("))
    assert method.estimate == (not machine.startswith("RAPL"))
    assert method.ram.startswith("attributed: process RSS share")
    assert method.carbon_factor_source.startswith("default")


def test_country_factor_comes_from_codecarbon_offline_data():
    meter = CodecarbonMeter(Carbon("FRA", None, "--cegi-country FRA"))
    with meter.window("inference") as h:
        _work()
    factor = h.result.emissions_kg / h.result.energy_kwh * 1000
    # France's grid is low-carbon; a plausible bound, not a copied figure
    assert 0 < factor < 200
    assert h.result.method.carbon_factor_g_per_kwh == pytest.approx(factor)


class _BrokenTracker:
    def start_task(self, name):
        raise RuntimeError("RAPL went away")


def test_tracker_error_makes_the_window_invalid_not_a_crash():
    meter = CodecarbonMeter(Settings().carbon)
    meter._tracker = _BrokenTracker()
    with meter.window("inference") as h:
        pass
    assert h.result.error == "RuntimeError: RAPL went away"
    assert "tracker error" in h.result.invalid_reason


def test_codecarbon_meter_in_a_real_session(pytester):
    pytester.makepyfile(
        test_cc="""
        def test_measured(cegi):
            with cegi.measure():
                sum(i * i for i in range(200_000))
            cegi.record_score(1.0)
    """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--cegi-budget", "--cegi-country=USA", "--cegi-save=r.json")
    result.assert_outcomes(passed=1)
    import json

    rec = json.loads((pytester.path / "r.json").read_text())["records"][0]
    assert rec["energy_kwh"] > 0 and rec["verdict"] == "pass"
    assert rec["method"]["meter"] == "codecarbon"
    assert rec["method"]["carbon_factor_source"] == "--cegi-country USA (codecarbon's offline grid data)"


def test_cache_identity_names_the_cpu_generation(monkeypatch):
    # Two guests both called "AMD EPYC" must not replay each other's fine-tuning windows.
    from pytest_cegi.core import run_file

    meter = CodecarbonMeter(Settings().carbon)
    monkeypatch.setattr(run_file, "cpu_model", lambda: "AMD EPYC")
    identities = []
    for family_model in ("family 25 model 1", "family 25 model 17", None):
        monkeypatch.setattr(run_file, "cpu_identity", lambda fm=family_model: fm and f"AuthenticAMD {fm}")
        identities.append(meter.cache_identity())
    assert identities[0] != identities[1]
    assert "(AuthenticAMD family 25 model 1)" in identities[0]
    assert identities[2].startswith("codecarbon:attributed-v1:AMD EPYC:")  # nothing more to tell
