"""A pinned xdist worker's GPU energy: its own device's NVML counter, nothing else.

Wraps any meter. Around each window it synchronises CUDA and reads the pinned
device's total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, millijoules
since the driver loaded; Volta and newer). The difference replaces the GPU figure
the inner meter took: codecarbon reads every GPU it is shown, and a figure of the
whole machine would charge each worker for its neighbours' devices (double counting
when workers measure at once). Windows on one device never overlap (the caller
serialises them per device), so a device's counter is charged to one window at a time.

A counter that cannot be read makes the window invalid, with the reason: never a
silent zero.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from pytest_cegi.core.window import Method, WindowHandle
from pytest_cegi.measure.devices import Device
from pytest_cegi.measure.meters.base import Meter, synchronize_accelerators

_MJ_PER_KWH = 3.6e9


class DeviceMeter:
    def __init__(self, meter: Meter, device: Device, lib: Any) -> None:
        self._meter = meter
        self._device = device
        self._lib = lib
        self._handle: Any = None
        self.name = meter.name
        self.traits = meter.traits

    def method(self) -> Method:
        return dataclasses.replace(
            self._meter.method(), gpu=f"NVML energy counter of {self._device.label} only (this worker's device)"
        )

    def cache_identity(self) -> str:
        return self._meter.cache_identity() + f":gpu {self._device.name}"

    def _read_mj(self) -> float:
        if self._handle is None:
            self._lib.nvmlInit()
            self._handle = self._lib.nvmlDeviceGetHandleByIndex(self._device.index)
        return float(self._lib.nvmlDeviceGetTotalEnergyConsumption(self._handle))

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[WindowHandle]:
        error = None
        start = 0.0
        synchronize_accelerators()
        try:
            start = self._read_mj()
        except Exception as exc:  # NVMLError: not supported (pre-Volta), lost device, ...
            error = f"NVML energy counter of {self._device.label} unreadable: {type(exc).__name__}: {exc}"
        handle: WindowHandle | None = None
        try:
            with self._meter.window(phase) as handle:
                yield handle
        finally:
            synchronize_accelerators()
            if handle is not None:
                self._finish(handle, start, error)

    def _finish(self, handle: WindowHandle, start: float, error: str | None) -> None:
        used_mj = 0.0
        if error is None:
            try:
                used_mj = self._read_mj() - start
            except Exception as exc:
                error = f"NVML energy counter of {self._device.label} unreadable: {type(exc).__name__}: {exc}"
        window = handle.result
        if window is None:
            return
        if error is not None or window.error is not None:
            handle.result = dataclasses.replace(window, method=self.method(), error=window.error or error)
            return
        gpu = max(0.0, used_mj) / _MJ_PER_KWH
        energy = window.energy_kwh - window.gpu_energy_kwh + gpu
        factor = window.method.carbon_factor_g_per_kwh
        if not isinstance(factor, (int, float)) or factor != factor:  # unknown: the window's own ratio
            factor = window.emissions_kg / window.energy_kwh * 1000.0 if window.energy_kwh > 0 else 0.0
        handle.result = dataclasses.replace(
            window,
            energy_kwh=energy,
            emissions_kg=energy * factor / 1000.0,
            gpu_energy_kwh=gpu,
            method=self.method(),
        )

    def close(self) -> None:
        self._meter.close()


__all__ = ["DeviceMeter"]
