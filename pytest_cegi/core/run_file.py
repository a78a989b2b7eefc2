"""The saved-run JSON file (`--cegi-save`): schema, atomic write, environment.

Shape (schema_version 1):
{
  "schema": "pytest-cegi/run", "schema_version": 1,
  "created": ISO-8601 UTC, "pytest_cegi": version,
  "machine": {"hostname", "platform", "python", "cpu", "cpu_count", "gpus": [..]},
  "meter": Method dict (meter, cpu, gpu, carbon factor and its source, estimate),
  "packages": {"pytest": ..., "codecarbon": ..., "torch": ... (only those importable)},
  "settings": {"enforce", "repeat", "country", "carbon_intensity", "meter"},
  "records": [Record.to_dict(), ...],
  "warnings": [what would otherwise pass silently, e.g. a budget entry matching no test]
}
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import os
import platform
import secrets
import socket
import stat
import time
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA = "pytest-cegi/run"
SCHEMA_VERSION = 1
_PACKAGES = ("pytest", "pytest-cegi", "codecarbon", "torch", "transformers", "peft", "bitsandbytes", "pytest-xdist")


TMP_MARK = ".cegi-tmp-"  # temporary files are named .NAME.cegi-tmp-<pid>-<random>
_STALE_AFTER_S = 3600.0  # a temp file this old is stale even if its pid was reused


class UnsafeOutputError(OSError):
    """The output path names something other than a regular file (a device, a folder)."""


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write via a temporary file in the same folder and rename, so readers never
    see half a file and a crash never destroys the previous one.

    Only a regular file (or nothing) is ever replaced; a symlink is written through
    to its target. A new file gets the usual 0666 & ~umask mode, a replaced one
    keeps its mode. The temporary file is `.NAME.cegi-tmp-<pid>-<random>`; ones
    left by a killed writer are deleted on the next write of NAME."""
    target = Path(os.path.realpath(path))
    mode = _existing_mode(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    tmp = target.parent / f".{target.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _existing_mode(target: Path) -> int | None:
    """The mode to keep, None for a new file; refuse anything that is not a regular file."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeOutputError(
            f"{target}: not a regular file (a device, folder or pipe); pytest-cegi only replaces regular files"
        )
    return stat.S_IMODE(st.st_mode)


def _remove_stale_temps(target: Path) -> None:
    """Delete temp files of `target` whose writer is gone (dead pid) or that are old."""
    now = time.time()
    for tmp in target.parent.glob(f".{glob.escape(target.name)}{TMP_MARK}*"):
        pid_text = tmp.name[len(target.name) + 1 + len(TMP_MARK) :].split("-", 1)[0]
        with contextlib.suppress(OSError):
            if not _alive(pid_text) or now - tmp.lstat().st_mtime > _STALE_AFTER_S:
                tmp.unlink()
    # Older versions wrote mkstemp's `.NAME.XXXXXXXX.tmp`; no pid to ask, so only old ones go.
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.{'[a-z0-9_]' * 8}.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.lstat().st_mtime > _STALE_AFTER_S:
                tmp.unlink()


def _alive(pid_text: str) -> bool:
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process writes one file at a time: its old temps are leftovers
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def machine_info() -> dict[str, Any]:
    gpus: list[str] = []
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


def build_run(
    records: list[dict[str, Any]],
    meter: dict[str, Any] | None,
    settings: dict[str, Any],
    machine: dict[str, Any] | None = None,
) -> dict[str, Any]:
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


def write_run(path: str | os.PathLike[str], run: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(run, indent=2, sort_keys=False) + "\n")
