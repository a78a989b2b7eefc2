"""Measured energy through codecarbon: one offline tracker per process, one task
window per `measure()`.

codecarbon reads RAPL counters where the kernel exposes them and otherwise models
CPU power from TDP x load; GPUs come from NVML. It never goes to the network here:
we only ever build an `OfflineEmissionsTracker` with an explicit country or a
forced carbon intensity.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator

from pytest_cegi.meters.base import Method, Window, WindowHandle, synchronize_accelerators

# codecarbon labels its CPU modes with these strings; anything else is a model.
_METERED_CPU_MODES = {"intel_rapl": "RAPL", "intel_power_gadget": "Intel Power Gadget",
                      "apple_powermetrics": "powermetrics"}


class CodecarbonMeter:
    name = "codecarbon"

    def __init__(self, carbon):
        """`carbon` is the resolved `settings.Carbon` (country or intensity + source)."""
        self._carbon = carbon
        self._tracker = None
        self._method: Method | None = None

    # The tracker is built on the first window, so sessions that never measure
    # never import codecarbon.
    def _ensure_tracker(self):
        if self._tracker is not None:
            return self._tracker
        from codecarbon import OfflineEmissionsTracker

        kwargs = dict(
            output_methods=[], log_level="error", tracking_mode="machine",
            allow_multiple_runs=True, project_name="pytest-cegi",
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
        return Method(
            meter=self.name, cpu=cpu, gpu=gpu,
            carbon_factor_g_per_kwh=self._carbon.intensity_g_per_kwh or float("nan"),
            carbon_factor_source=self._carbon.source,
            estimate=not cpu.startswith("RAPL") and cpu != "not yet measured",
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

    def _finish_method(self, emissions_kg: float, energy_kwh: float) -> Method:
        if self._method is None:
            cpu, gpu = self._hardware_labels()
            factor = self._carbon.intensity_g_per_kwh
            if factor is None and energy_kwh > 0:
                factor = emissions_kg / energy_kwh * 1000.0  # country mix from codecarbon's data
            self._method = Method(
                meter=self.name, cpu=cpu, gpu=gpu,
                carbon_factor_g_per_kwh=factor if factor is not None else float("nan"),
                carbon_factor_source=self._carbon.source,
                estimate=not cpu.startswith("RAPL"),
            )
        return self._method

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[WindowHandle]:
        handle = WindowHandle(phase)
        error = None
        tracker = None
        try:
            tracker = self._ensure_tracker()
            synchronize_accelerators()
            tracker.start_task(phase)
        except Exception as exc:  # a broken tracker makes the window invalid, never the run
            error = f"{type(exc).__name__}: {exc}"
        started = time.perf_counter()
        try:
            yield handle
        finally:
            synchronize_accelerators()
            elapsed = time.perf_counter() - started
            data = None
            if error is None:
                try:
                    data = tracker.stop_task()
                    if data is None:
                        error = "codecarbon returned no data for the window"
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
            handle.result = self._to_window(phase, data, elapsed, error)

    def _to_window(self, phase, data, elapsed, error) -> Window:
        if data is None:
            return Window(phase=phase, energy_kwh=0.0, emissions_kg=0.0, duration_s=elapsed,
                          method=self.method(), error=error)
        energy = float(data.energy_consumed)
        emissions = float(data.emissions)
        return Window(
            phase=phase, energy_kwh=energy, emissions_kg=emissions,
            duration_s=float(data.duration),
            method=self._finish_method(emissions, energy),
            cpu_energy_kwh=float(data.cpu_energy), gpu_energy_kwh=float(data.gpu_energy),
            ram_energy_kwh=float(data.ram_energy), error=error,
        )

    def close(self) -> None:
        # Task windows never started the tracker's own scheduler, so there is
        # nothing to flush; drop the reference so hardware handles are released.
        self._tracker = None
