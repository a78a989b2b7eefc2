"""The saved-run JSON file (`--cegi-save`): schema, atomic write, environment.

Shape (schema_version 1):
{
  "schema": "pytest-cegi/run", "schema_version": 1,
  "created": ISO-8601 UTC, "pytest_cegi": version,
  "machine": {"hostname", "platform", "python", "cpu", "cpu_count", "gpus": [..]},
  "meter": Method dict (meter, cpu, gpu, carbon factor and its source, estimate),
  "packages": {"pytest": ..., "codecarbon": ..., "torch": ... (only those importable)},
  "settings": {"enforce", "repeat", "country", "carbon_intensity", "meter"},
  "records": [Record.to_dict(), ...]
}
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import socket
import tempfile
from importlib import metadata
from pathlib import Path

SCHEMA = "pytest-cegi/run"
SCHEMA_VERSION = 1
_PACKAGES = ("pytest", "pytest-cegi", "codecarbon", "torch", "transformers", "peft",
             "bitsandbytes", "pytest-xdist")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write via a temporary file in the same folder and rename, so readers never
    see half a file and a crash never destroys the previous one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def package_versions() -> dict:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine_info() -> dict:
    gpus = []
    import sys

    torch = sys.modules.get("torch")  # only describe GPUs if torch is already loaded
    if torch is not None and torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_run(records: list[dict], meter: dict | None, settings: dict, machine: dict | None = None) -> dict:
    packages = package_versions()
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "pytest_cegi": packages.get("pytest-cegi"),
        "machine": machine if machine is not None else machine_info(),
        "meter": meter,
        "packages": packages,
        "settings": settings,
        "records": records,
    }


def write_run(path: str | os.PathLike, run: dict) -> None:
    atomic_write_text(path, json.dumps(run, indent=2, sort_keys=False) + "\n")
