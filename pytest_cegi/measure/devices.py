"""One pytest-xdist worker per GPU: which device a worker gets, and where GPUs come from.

With `-n auto` or `-n N` on a host with GPUs, worker `gwK` is pinned to visible GPU
K mod G (G GPUs visible): `CUDA_VISIBLE_DEVICES` is set to that device's UUID in the
worker process before its conftest files load, so before torch can initialise CUDA
(CUDA reads the variable once, at initialisation). Inside the worker the device is
`cuda:0`. A UUID rather than an index, because CUDA numbers devices fastest-first
by default while NVML numbers them by PCI bus: an index could name another GPU.

The device list and each device's energy counter come from NVML (`pynvml`, from the
nvidia-ml-py package codecarbon already depends on), through `nvml()`: the one seam
tests replace with a fake module (`PYTEST_CEGI_NVML=module.name`) to simulate a host
with several GPUs. No NVML, no driver or no GPU: nothing is pinned, behaviour is
unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

NVML_MODULE_ENV = "PYTEST_CEGI_NVML"  # test seam: a module imported instead of pynvml
_WORKER_ENV, _WORKER_COUNT_ENV = "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"


@dataclass(frozen=True)
class Device:
    index: int  # NVML's index (PCI bus order)
    name: str
    uuid: str | None

    @property
    def label(self) -> str:
        """How records and reports name it: "GPU 2: NVIDIA H100 80GB HBM3 (GPU-8c5f...)"."""
        return f"GPU {self.index}: {self.name}" + (f" ({self.uuid})" if self.uuid else "")

    @property
    def cuda_visible(self) -> str:
        return self.uuid or str(self.index)


@dataclass(frozen=True)
class Pin:
    """A worker's device. `shared`: more workers than GPUs, so some share a device and
    their windows on it are serialised (NVML cannot split one device's energy)."""

    device: Device
    worker: str
    workers: int
    visible: int  # GPUs the workers are spread over
    previous: str | None = None  # CUDA_VISIBLE_DEVICES before pinning (None: unset), for `unpin`

    @property
    def shared(self) -> bool:
        return self.workers > self.visible


def nvml() -> Any:
    """The NVML bindings (pynvml), or the module PYTEST_CEGI_NVML names; None when
    there are none to load."""
    name = os.environ.get(NVML_MODULE_ENV) or "pynvml"
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def list_devices(lib: Any) -> list[Device]:
    """Every GPU NVML sees, in NVML order; [] without a driver or a GPU."""
    if lib is None:
        return []
    try:
        lib.nvmlInit()
    except Exception:  # NVMLError (no driver, no device) or a missing library: no GPUs
        return []
    devices = []
    try:
        for i in range(int(lib.nvmlDeviceGetCount())):
            handle = lib.nvmlDeviceGetHandleByIndex(i)
            uuid = None
            with contextlib.suppress(Exception):
                uuid = _text(lib.nvmlDeviceGetUUID(handle))
            devices.append(Device(i, _text(lib.nvmlDeviceGetName(handle)), uuid))
    except Exception:
        return []
    return devices


class PinError(Exception):
    """CUDA_VISIBLE_DEVICES names something NVML cannot map to a device."""


def visible(devices: list[Device], environ: MutableMapping[str, str]) -> list[Device]:
    """The devices the user left visible: all of them, or those CUDA_VISIBLE_DEVICES
    names (by NVML index or UUID, in its order). PinError for entries NVML cannot map
    (MIG slices, unknown UUIDs), which NVML cannot meter one by one."""
    given = environ.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        return list(devices)
    out = []
    for entry in (e.strip() for e in given.split(",")):
        if not entry:
            continue
        if entry.lstrip("-").isdigit():
            if int(entry) < 0:
                break  # CUDA stops at the first invalid index
            match = [d for d in devices if d.index == int(entry)]
        else:
            match = [d for d in devices if d.uuid and d.uuid.startswith(entry)]
        if len(match) != 1:
            raise PinError(
                f"CUDA_VISIBLE_DEVICES entry {entry!r} names no single GPU NVML knows "
                f"(NVML sees: {', '.join(d.label for d in devices) or 'none'}); MIG slices cannot be metered one "
                "by one: give whole GPUs by index or UUID"
            )
        out.append(match[0])
    return out


def worker_number(environ: MutableMapping[str, str]) -> int | None:
    """K of xdist worker "gwK" (None outside a worker)."""
    worker = environ.get(_WORKER_ENV, "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else None


def pin_worker(environ: MutableMapping[str, str] | None = None, lib: Any = None) -> Pin | None:
    """In an xdist worker on a host with GPUs, set CUDA_VISIBLE_DEVICES to this
    worker's device and return it; None (nothing changed) outside a worker or without
    GPUs. PinError when CUDA is already initialised here or the user's
    CUDA_VISIBLE_DEVICES cannot be mapped."""
    environ = os.environ if environ is None else environ
    k = worker_number(environ)
    if k is None:
        return None
    devices = visible(list_devices(nvml() if lib is None else lib), environ)
    if not devices:
        return None
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise PinError(
            "CUDA was initialised before pytest-cegi could pin this xdist worker to one GPU "
            "(a plugin loaded before it used CUDA); set CUDA_VISIBLE_DEVICES per worker yourself"
        )
    workers = int(environ.get(_WORKER_COUNT_ENV) or 0) or k + 1
    device = devices[k % len(devices)]
    previous = environ.get("CUDA_VISIBLE_DEVICES")
    environ["CUDA_VISIBLE_DEVICES"] = device.cuda_visible
    return Pin(device, f"gw{k}", workers, len(devices), previous)


def unpin(pin: Pin, environ: MutableMapping[str, str] | None = None) -> None:
    """Undo `pin_worker`: for a process that only looked like a worker (a pytest run
    started inside an xdist worker inherits PYTEST_XDIST_WORKER; pytest-xdist tells its
    real workers apart only once conftest files have loaded)."""
    environ = os.environ if environ is None else environ
    if pin.previous is None:
        environ.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        environ["CUDA_VISIBLE_DEVICES"] = pin.previous


def visible_count(lib: Any = None, pin: Pin | None = None) -> int:
    """How many GPUs the workers would be spread over (0: none, or none NVML can map);
    `pin`: this process's own pin, not counted (the devices as they were before it)."""
    environ = dict(os.environ)
    if pin is not None:
        unpin(pin, environ)
    try:
        return len(visible(list_devices(nvml() if lib is None else lib), environ))
    except PinError:
        return 0


def plan_note(workers: int, lib: Any = None) -> str | None:
    """The session header's line on the controller: how workers map to GPUs."""
    try:
        devices = visible(list_devices(nvml() if lib is None else lib), os.environ)
    except PinError as exc:
        return f"GPU pinning off: {exc}"
    if not devices or workers < 1:
        return None
    share = (
        f"; {workers} workers share {len(devices)} GPUs, so windows on one device take turns"
        if workers > len(devices)
        else ""
    )
    return (
        f"one xdist worker per GPU: worker gwK uses GPU K mod {len(devices)} "
        f"(CUDA_VISIBLE_DEVICES set per worker) and meters that device only{share}"
    )


__all__ = [
    "Device",
    "Pin",
    "PinError",
    "list_devices",
    "nvml",
    "pin_worker",
    "plan_note",
    "unpin",
    "visible",
    "visible_count",
]
