"""Attributed energy: the arithmetic, codecarbon's data it relies on, and the OpenMP policy."""

import math

import pytest

from pytest_cegi.measure.meters import attribution
from pytest_cegi.measure.meters.attribution import PowerModel, ProcessSample

GB = 1024**3


def model(metered: bool = False) -> PowerModel:
    return PowerModel(
        cpu_watts_per_core=4.0,
        ram_watts_per_gb=0.5,
        cores=2,
        cpu_metered=metered,
        describe_cpu="test",
        describe_ram="test",
    )


def test_modelled_cpu_is_cpu_seconds_times_watts_per_core():
    start, end = ProcessSample(10.0, 2 * GB, 0.0), ProcessSample(12.5, 2 * GB, 0.0)
    cpu, ram, seconds = model().attribute(start, end, machine_cpu_kwh=99.0)
    assert seconds == 2.5
    assert cpu == pytest.approx(2.5 * 4.0 / 3.6e6)  # the machine reading is not used
    assert ram == pytest.approx(2.5 * 2 * 0.5 / 3.6e6)  # 2 GB x 0.5 W/GB for the CPU time


def test_metered_cpu_is_shared_by_busy_time():
    start, end = ProcessSample(0.0, GB, 100.0), ProcessSample(1.0, GB, 104.0)
    cpu, _, _ = model(metered=True).attribute(start, end, machine_cpu_kwh=8e-6)
    assert cpu == pytest.approx(8e-6 / 4)  # one of four busy CPU-seconds


def test_attribution_ignores_wall_time_and_neighbours():
    # A window that waited for the CPU: same CPU seconds, same figure.
    a = model().attribute(ProcessSample(0, GB, 0), ProcessSample(1, GB, 50), 1.0)
    b = model().attribute(ProcessSample(0, GB, 0), ProcessSample(1, GB, 900), 5.0)
    assert a == b


def test_sample_reads_this_process():
    first = attribution.sample(with_machine=True)
    sum(i * i for i in range(200_000))
    second = attribution.sample(with_machine=True)
    assert second.cpu_s > first.cpu_s and first.rss_bytes > 0 and second.machine_busy_s >= first.machine_busy_s


def test_codecarbon_still_offers_what_attribution_reads():
    """Fails loudly when codecarbon renames the TDP table or the RAM model we rely on."""
    power = attribution.codecarbon_power_model(cpu_metered=False)
    assert power.cores >= 1
    assert math.isfinite(power.cpu_watts_per_core) and power.cpu_watts_per_core > 0
    assert math.isfinite(power.ram_watts_per_gb) and power.ram_watts_per_gb > 0
    assert "TDP" in power.describe_cpu and "RAM" in power.describe_ram


def test_codecarbon_private_hardware_labels_still_exist():
    """The meter labels the CPU mode from codecarbon's hardware objects (private
    attributes `_hardware` and `_mode`); this fails loudly if they change."""
    from pytest_cegi.core.settings import Settings
    from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter

    meter = CodecarbonMeter(Settings().carbon)
    with meter.window("inference"):
        sum(range(10_000))
    tracker = meter._tracker
    kinds = {type(hw).__name__ for hw in tracker._hardware}
    assert "CPU" in kinds
    cpu = next(hw for hw in tracker._hardware if type(hw).__name__ == "CPU")
    assert isinstance(cpu._mode, str)


def test_window_keeps_machine_reading_beside_attributed_figure():
    from pytest_cegi.core.settings import Settings
    from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter

    meter = CodecarbonMeter(Settings().carbon)
    with meter.window("inference") as handle:
        sum(i * i for i in range(300_000))
    w = handle.result
    assert w.invalid_reason is None
    assert w.method.basis == "attributed"
    assert w.machine_energy_kwh is not None and w.machine_energy_kwh > 0
    assert w.cpu_seconds is not None and w.cpu_seconds > 0
    assert w.energy_kwh == pytest.approx(w.cpu_energy_kwh + w.ram_energy_kwh + w.gpu_energy_kwh)
    assert w.emissions_kg == pytest.approx(w.energy_kwh * w.method.carbon_factor_g_per_kwh / 1000)


def test_omp_policy_set_when_unset_and_torch_not_loaded(monkeypatch):
    import sys

    env: dict = {}
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert "PASSIVE" in attribution.omp_wait_policy(env)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"


def test_omp_policy_keeps_the_users_choice():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert "kept" in attribution.omp_wait_policy(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_omp_policy_says_when_it_is_too_late(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    env: dict = {}
    assert "imported before" in attribution.omp_wait_policy(env)
    assert env == {}
