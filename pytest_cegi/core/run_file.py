"""The saved-run JSON file (`--cegi-save`): schema, atomic write, environment, and
reading one back (`load_run`: bounded read, migration, validation).

Shape (schema_version 2; version 1 files read as 2, see MIGRATIONS):
{
  "schema": "pytest-cegi/run", "schema_version": 1,
  "created": ISO-8601 UTC, "pytest_cegi": version,
  "machine": {"hostname", "platform", "python", "cpu", "cpu_id", "cpu_count", "gpus": [..]},
  "meter": Method dict (meter, cpu, gpu, carbon factor and its source, estimate),
  "packages": {"pytest": ..., "codecarbon": ..., "torch": ... (only those importable)},
  "settings": {"enforce", "repeat", "country", "carbon_intensity", "meter"},
  "records": [Record.to_dict(), ...],
  "warnings": [what would otherwise pass silently, e.g. a budget entry matching no test],
  "incomplete": why the session stopped before its last test (only in a partial run),
  "shard": {"group": i, "splits": N, "by": ...} (only in a run of one declared shard),
  "shards": [{"file", "label", "group", "splits", "records", "created", "machine", "meter",
              "incomplete"}, ...] (only in a merged run: `pytest-cegi merge`)
}
Version 2 added the optional "shard" and "shards" and the optional record keys
"device", "shard" and "machine" (a merged run's records each keep their machine).

"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import glob
import json
import os
import platform
import secrets
import socket
import stat
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_cegi.core import run_schema
from pytest_cegi.core.record import Record

SCHEMA = "pytest-cegi/run"
SCHEMA_VERSION = 2
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
        "cpu_id": cpu_identity(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
    }


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


# The vector extensions that change how fast (and how exactly) ML kernels run: two
# CPUs that differ in them are different hardware, whatever their model names say.
_VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_identity() -> str | None:
    """What tells two CPUs apart when the model name does not: cloud guests often see
    just "AMD EPYC" or "Intel Xeon Processor" for several generations. x86: vendor,
    family, model, stepping, cache and vector extensions; Arm: implementer and part.
    None where /proc/cpuinfo says none of these (macOS, Windows)."""
    info = _cpuinfo()
    if "cpu family" in info:
        flags = set(info.get("flags", "").split())
        vector = " ".join(f for f in _VECTOR_FLAGS if f in flags) or "no vector extensions"
        return (
            f"{info.get('vendor_id', 'unknown vendor')} family {info['cpu family']} model {info.get('model', '?')} "
            f"stepping {info.get('stepping', '?')}; {info.get('cache size', 'unknown')} cache; {vector}"
        )
    if "CPU implementer" in info:
        part, variant = info.get("CPU part", "?"), info.get("CPU variant", "?")
        return f"implementer {info['CPU implementer']} part {part} variant {variant}"
    return None


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none); read
    once per process (the adapter cache asks for every fine-tuned variant)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    if fields:
                        break  # the first processor's block is enough
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


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


# -- reading: every run file (baseline, saved run, pooled runs) comes in here ----------

REGENERATE = "re-create it with `pytest --cegi-save FILE` and promote it with `pytest-cegi update`"


class BaselineError(Exception):
    """A run file that cannot be used; the message names the file."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")


def _v1_to_v2(run: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only added optional keys (record device, shard and machine; the run's
    shard and shards): a version 1 run is a version 2 run without them."""
    return run


# schema_version N -> function turning an N run dict into an N+1 one; when the
# shape changes, add the step here and older files keep working.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def load_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, migrate and validate a saved run; BaselineError says what is wrong."""
    return load_run_versioned(path)[0]


def load_run_versioned(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int]:
    """`load_run`, and the schema_version the file was written with (before migration):
    `pytest-cegi merge` refuses shards written by different schema versions."""
    try:
        text = run_schema.read_bounded(path)
    except FileNotFoundError:
        raise BaselineError(path, "no such file") from None
    except run_schema.RunFileError as exc:
        raise BaselineError(path, str(exc)) from None
    except OSError as exc:
        raise BaselineError(path, f"cannot read the file ({exc})") from None
    if not text.strip():
        raise BaselineError(path, "the file is empty (an interrupted write?); " + REGENERATE)
    try:
        run = run_schema.parse_json(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            path,
            f"not valid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg}): the file is truncated or corrupted; " + REGENERATE,
        ) from None
    except run_schema.RunFileError as exc:
        raise BaselineError(path, str(exc)) from None
    written = run.get("schema_version") if isinstance(run, dict) else None
    migrated = validate_run(migrate_run(run, path), path)
    return migrated, written if isinstance(written, int) else SCHEMA_VERSION


def migrate_run(run: object, path: str | os.PathLike[str] = "<run>") -> dict[str, Any]:
    if not isinstance(run, dict) or run.get("schema") != SCHEMA:
        raise BaselineError(path, f'not a pytest-cegi run file (expected "schema": "{SCHEMA}")')
    version = run.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BaselineError(path, f"schema_version must be an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise BaselineError(
            path,
            f"schema_version {version} was written by a newer pytest-cegi "
            f"(this one reads up to {SCHEMA_VERSION}); upgrade pytest-cegi",
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise BaselineError(
                path,
                f"schema_version {version} is too old for this pytest-cegi "
                f"(it reads {_readable_versions()}); " + REGENERATE,
            )
        run = step(dict(run))
        version += 1
        run["schema_version"] = version
    return run


def _readable_versions() -> str:
    oldest = min([SCHEMA_VERSION, *MIGRATIONS])
    return f"versions {oldest} to {SCHEMA_VERSION}" if oldest < SCHEMA_VERSION else f"version {SCHEMA_VERSION}"


def validate_run(run: dict[str, Any], path: str | os.PathLike[str] = "<run>") -> dict[str, Any]:
    """The run_schema check (every field's type and finiteness), then a rebuild of
    each record, so nothing downstream meets a value it cannot handle."""
    try:
        run_schema.check_run(run)
    except run_schema.RunFileError as exc:
        raise BaselineError(path, f"field {exc.field or '(top level)'}: {exc.problem}") from None
    records = run.get("records")
    if not isinstance(records, list):
        raise BaselineError(path, '"records" must be a list')
    for i, rec in enumerate(records):
        where = f"record #{i + 1}"
        if not isinstance(rec, dict):
            raise BaselineError(path, f"{where} is not an object")
        for key in ("nodeid", "task", "variant"):
            if not isinstance(rec.get(key), str):
                raise BaselineError(path, f"{where} has no string {key!r}")
        where = f"record #{i + 1} ({rec['nodeid']})"
        for key in ("score", "cegi", "emissions_kg", "energy_kwh"):
            value = rec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise BaselineError(path, f"{where}: {key!r} must be a number or null, got {value!r}")
        try:
            Record.from_dict(rec)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise BaselineError(path, f"{where} is malformed: {exc}") from None
    for key in ("machine", "meter", "settings"):
        if run.get(key) is not None and not isinstance(run[key], dict):
            raise BaselineError(path, f"{key!r} must be an object")
    return run
