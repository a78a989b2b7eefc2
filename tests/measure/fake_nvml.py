"""A fake NVML (the pynvml calls pytest-cegi makes) for a host with several GPUs.

Selected with PYTEST_CEGI_NVML=fake_nvml (measure/devices.py's seam). FAKE_NVML_GPUS
says how many GPUs there are; each device's total-energy counter (millijoules) is a
file in FAKE_NVML_DIR, shared by every process, so xdist workers see one machine.
`burn(mJ)` is the "GPU work" a test does: it adds energy to the counter of the device
CUDA_VISIBLE_DEVICES gives this process, as a real GPU's counter grows with its work.
"""

import fcntl
import os
from pathlib import Path


class NVMLError(Exception):
    pass


def _dir() -> Path:
    return Path(os.environ["FAKE_NVML_DIR"])


def _count() -> int:
    return int(os.environ.get("FAKE_NVML_GPUS", "0"))


def uuid(index: int) -> str:
    return f"GPU-fake-{index:04d}"


def nvmlInit():
    if _count() == 0:
        raise NVMLError("NVML Shared Library Not Found")


def nvmlShutdown():
    pass


def nvmlDeviceGetCount():
    return _count()


def nvmlDeviceGetHandleByIndex(index):
    if not 0 <= index < _count():
        raise NVMLError(f"Invalid Argument: device {index}")
    return index


def nvmlDeviceGetName(handle):
    return b"Fake H100"


def nvmlDeviceGetUUID(handle):
    return uuid(handle)


def _counter(index: int) -> Path:
    return _dir() / f"gpu{index}.mJ"


def nvmlDeviceGetTotalEnergyConsumption(handle):
    if os.environ.get("FAKE_NVML_BROKEN"):
        raise NVMLError("Not Supported")
    path = _counter(handle)
    return int(path.read_text()) if path.exists() else 0


def burn(millijoules: int) -> int:
    """Charge `millijoules` to this process's visible device; returns its index."""
    visible = os.environ["CUDA_VISIBLE_DEVICES"]
    index = int(visible.rsplit("-", 1)[1])
    with open(_dir() / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = _counter(index)
        now = int(path.read_text()) if path.exists() else 0
        path.write_text(str(now + millijoules))
    return index
