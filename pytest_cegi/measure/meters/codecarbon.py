"""Measured energy through codecarbon: one offline tracker per process, one task
window per `measure()`, and the window's energy attributed to this process's own
work (see `attribution`), with codecarbon's machine-level reading kept beside it.

codecarbon reads RAPL counters where the kernel exposes them and otherwise models
CPU power from TDP x load; GPUs come from NVML. It never goes to the network here:
we only ever build an `OfflineEmissionsTracker` with an explicit country or a
forced carbon intensity.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pytest_cegi.core.meter_traits import METER_TRAITS
from pytest_cegi.core.window import Method, Window, WindowHandle
from pytest_cegi.measure.meters import attribution
from pytest_cegi.measure.meters.base import synchronize_accelerators

if TYPE_CHECKING:
    from codecarbon import OfflineEmissionsTracker

    from pytest_cegi.core.settings import Carbon

# codecarbon labels its CPU modes with these strings; anything else is a model.
_METERED_CPU_MODES = {
    "intel_rapl": "RAPL",
    "intel_power_gadget": "Intel Power Gadget",
    "apple_powermetrics": "powermetrics",
}


class CodecarbonMeter:
    name = "codecarbon"
    traits = METER_TRAITS["codecarbon"]

    def __init__(self, carbon: Carbon) -> None:
        """`carbon` is the resolved `settings.Carbon` (country or intensity + source)."""
        self._carbon = carbon
        self._tracker: OfflineEmissionsTracker | None = None
        self._method: Method | None = None
        self._power: attribution.PowerModel | None = None
        self._power_problem: str | None = None  # why attribution is unavailable, if it is

    # The tracker is built on the first window, so sessions that never measure
    # never import codecarbon.
    def _ensure_tracker(self) -> OfflineEmissionsTracker:
        if self._tracker is not None:
            return self._tracker
        from codecarbon import OfflineEmissionsTracker

        kwargs: dict[str, Any] = dict(  # OfflineEmissionsTracker's keyword arguments
            output_methods=[],
            log_level="error",
            tracking_mode="machine",
            allow_multiple_runs=True,
            project_name="pytest-cegi",
        )
        if self._carbon.intensity_g_per_kwh is not None:
            kwargs["force_carbon_intensity_g_co2e_kwh"] = self._carbon.intensity_g_per_kwh
            kwargs["country_iso_code"] = self._carbon.country or "USA"
        else:
            kwargs["country_iso_code"] = self._carbon.country
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(**kwargs)
        return self._tracker

    def method(self) -> Method:
        if self._method is not None:
            return self._method
        cpu, gpu = "not yet measured", "not yet measured"
        if self._tracker is not None:
            cpu, gpu = self._hardware_labels()
        from pytest_cegi.core.carbon import carbon_factor

        return Method(
            meter=self.name,
            cpu=cpu,
            gpu=gpu,
            carbon_factor_g_per_kwh=carbon_factor(self._carbon)[0],
            carbon_factor_source=self._carbon.source,
            estimate=not cpu.startswith("RAPL") and cpu != "not yet measured",
            basis="attributed",
        )

    def _hardware_labels(self) -> tuple[str, str]:
        cpu, gpu = "none", "none"
        for hw in getattr(self._tracker, "_hardware", []):
            kind = type(hw).__name__
            if kind == "CPU":
                mode = getattr(hw, "_mode", "")
                cpu = _METERED_CPU_MODES.get(mode) or f"modelled ({mode or 'unknown'}, TDP x load)"
            elif kind == "GPU":
                gpu = "NVML"
        return cpu, gpu

    def _power_model(self) -> attribution.PowerModel | None:
        """Built once, after the first window told us whether the CPU is metered."""
        if self._power is None and self._power_problem is None:
            cpu, _ = self._hardware_labels()
            try:
                self._power = attribution.codecarbon_power_model(cpu_metered=not cpu.startswith("modelled"))
            except Exception as exc:  # codecarbon's data layout changed: say so, keep machine figures
                self._power_problem = f"{type(exc).__name__}: {exc}"
        return self._power

    def _finish_method(self, emissions_kg: float, energy_kwh: float) -> Method:
        if self._method is None:
            cpu, gpu = self._hardware_labels()
            factor = self._carbon.intensity_g_per_kwh
            if factor is None and energy_kwh > 0:
                factor = emissions_kg / energy_kwh * 1000.0  # country mix from codecarbon's data
            power = self._power_model()
            if power is not None:
                basis, cpu_text = "attributed", f"{power.describe_cpu} (machine reading: {cpu})"
                ram_text = power.describe_ram
            else:
                basis = "machine"
                cpu_text = f"{cpu} (attribution unavailable: {self._power_problem})"
                ram_text = "modelled (constant power x wall time)"
            self._method = Method(
                meter=self.name,
                cpu=cpu_text,
                gpu=gpu + (", whole device" if gpu == "NVML" else ""),
                carbon_factor_g_per_kwh=factor if factor is not None else float("nan"),
                carbon_factor_source=self._carbon.source,
                estimate=not cpu.startswith("RAPL"),
                basis=basis,
                ram=ram_text,
            )
        return self._method

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[WindowHandle]:
        handle = WindowHandle(phase)
        error = None
        tracker: OfflineEmissionsTracker | None = None
        try:
            tracker = self._ensure_tracker()
            synchronize_accelerators()
            tracker.start_task(phase)
        except Exception as exc:  # a broken tracker makes the window invalid, never the run
            error = f"{type(exc).__name__}: {exc}"
        before = attribution.sample(with_machine=True)
        started = time.perf_counter()
        try:
            yield handle
        finally:
            synchronize_accelerators()
            elapsed = time.perf_counter() - started
            after = attribution.sample(with_machine=True)
            data = None
            if error is None:
                assert tracker is not None  # set whenever start_task ran without an error
                try:
                    data = tracker.stop_task()
                    if data is None:
                        error = "codecarbon returned no data for the window"
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
            handle.result = self._to_window(phase, data, elapsed, error, before, after)

    def _to_window(self, phase, data, elapsed, error, before, after) -> Window:
        cpu_s = max(0.0, after.cpu_s - before.cpu_s)
        if data is None:
            return Window(
                phase=phase,
                energy_kwh=0.0,
                emissions_kg=0.0,
                duration_s=elapsed,
                method=self.method(),
                error=error,
                cpu_seconds=cpu_s,
            )
        machine_energy = float(data.energy_consumed)
        machine_emissions = float(data.emissions)
        method = self._finish_method(machine_emissions, machine_energy)
        gpu = float(data.gpu_energy)
        power = self._power_model()
        if power is None:  # no attribution possible: the machine figure, labelled as such
            cpu, ram = float(data.cpu_energy), float(data.ram_energy)
        else:
            cpu, ram, cpu_s = power.attribute(before, after, float(data.cpu_energy))
        energy = cpu + ram + gpu
        factor = method.carbon_factor_g_per_kwh
        if factor != factor:  # NaN: no factor known yet; use the window's own ratio
            factor = machine_emissions / machine_energy * 1000.0 if machine_energy > 0 else 0.0
        return Window(
            phase=phase,
            energy_kwh=energy,
            emissions_kg=energy * factor / 1000.0,
            duration_s=float(data.duration),
            method=method,
            cpu_energy_kwh=cpu,
            gpu_energy_kwh=gpu,
            ram_energy_kwh=ram,
            error=error,
            machine_energy_kwh=machine_energy,
            machine_emissions_kg=machine_emissions,
            cpu_seconds=cpu_s,
        )

    def cache_identity(self) -> str:
        """Attributed energy depends on the CPU and its core count (TDP per core); the
        CPU's identity too, since cloud guests of several generations share one model
        name, and a cache copied between them must not replay the other's fine-tuning."""
        import os

        from pytest_cegi.core.run_file import cpu_identity, cpu_model

        cpu = cpu_model() + (f" ({identity})" if (identity := cpu_identity()) else "")
        return f"codecarbon:attributed-v1:{cpu}:{os.cpu_count()} cores"

    def close(self) -> None:
        # Task windows never started the tracker's own scheduler, so there is
        # nothing to flush; drop the reference so hardware handles are released.
        self._tracker = None
