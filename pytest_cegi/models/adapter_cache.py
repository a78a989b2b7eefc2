"""Content-addressed cache of fine-tuned adapters.

A carbon gate must not burn carbon re-training what it trained last run. An
adapter is stored under a key hashing everything that decides its weights: the
base model's files, the variant's LoRA/quantization/dtype settings, the training
records and the fine-tuning settings (not the variant's name, so renaming a
variant reuses its adapter). With the adapter we keep the measured fine-tuning
window, so a cache hit can report the energy the adapter cost, marked cached.

A window is kept per meter identity (`codecarbon:attributed-v1:<cpu (identity)>`,
`flops:<profile>`, ...): a run replays only a window its own meter measured, so a
flops run reads the same figures whatever a codecarbon run left in the cache. A
meter that finds the adapter but no window of its own trains again (the weights
are deterministic) and adds its window to the entry.

Layout: `<cache_dir>/adapters/<key>/` holding the peft adapter files and
`cegi-entry.json` (written last) with the windows, a SHA-256 of every file and a
SHA-256 of the entry's own record (windows and info). A missing or mismatching
file, an edited record, or a record that fails run_schema's checks (types,
finiteness, NaN, size, a file name outside the entry folder) makes the entry
corrupt: a warning says why, and it is deleted and rebuilt, never replayed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from pytest_cegi.core.window import Window

ENTRY_FILE = "cegi-entry.json"
FORMAT = 2  # 2: windows per meter identity, record checksum
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")

_fingerprints: dict[tuple, str] = {}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """Hash of a model directory's weights and config; memoized while files are unchanged."""
    root = Path(model_dir)
    files = sorted(
        p for p in root.iterdir() if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name == "config.json")
    )
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    memo = (str(root.resolve()), stamp)
    if memo not in _fingerprints:
        h = hashlib.sha256()
        for p in files:
            h.update(p.name.encode() + b"\0" + _sha256_file(p).encode())
        _fingerprints[memo] = h.hexdigest()
    return _fingerprints[memo]


def cache_key(base: str, variant_spec: dict, records: list[dict], settings: dict) -> str:
    payload = {
        "format": FORMAT,
        "base": base,
        "variant": variant_spec,
        "settings": settings,
        "data": hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    path: Path
    windows: dict  # meter identity -> the fine-tuning Window it measured
    info: dict  # steps, final loss, ...

    def window_for(self, identity: str | None) -> Window | None:
        return self.windows.get(identity) if identity is not None else None


def _record_digest(meta: dict) -> str:
    """Checksum of what an entry tells about itself: its windows and info."""
    body = {"windows": meta.get("windows"), "info": meta.get("info"), "files": meta.get("files")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class AdapterCache:
    def __init__(self, cache_dir: str | os.PathLike):
        self.root = Path(cache_dir) / "adapters"

    def lookup(self, key: str) -> Entry | None:
        """The stored entry, or None; a corrupt entry is removed so it gets rebuilt."""
        path = self.root / key
        if not path.exists():
            return None
        problem = _check(path, key)
        if problem:
            # stacklevel=1: a corrupt entry is no caller's doing, so the warning points here
            warnings.warn(
                f"pytest-cegi: adapter cache entry {path} is corrupt ({problem}); rebuilding it", stacklevel=1
            )
            shutil.rmtree(path, ignore_errors=True)
            return None
        meta = _read_meta(path)
        windows = {ident: Window.from_dict(w) for ident, w in meta["windows"].items()}
        return Entry(path, windows, meta.get("info", {}))

    def store(self, key: str, model, window: Window | None, info: dict, identity: str | None) -> Entry:
        """Save a peft model's adapter atomically (a temp dir renamed into place), or,
        when a valid entry exists, add this meter's window to it."""
        dest = self.root / key
        windows = {identity: window.to_dict()} if window is not None and identity is not None else {}
        if dest.exists() and not _check(dest, key):
            return self._add_windows(dest, windows)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            model.save_pretrained(tmp)
            files = {p.name: _sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            meta = {"format": FORMAT, "key": key, "files": files, "info": info, "windows": windows}
            meta["record_sha256"] = _record_digest(meta)
            (tmp / ENTRY_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
            if dest.exists():  # a corrupt leftover (a valid one was handled above)
                shutil.rmtree(dest, ignore_errors=True)
            try:
                os.rename(tmp, dest)
            except OSError:  # another process stored the same key first: keep theirs
                if _check(dest, key):
                    raise
                return self._add_windows(dest, windows)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.lookup(key) or Entry(dest, {}, info)

    def _add_windows(self, dest: Path, windows: dict) -> Entry:
        meta = json.loads((dest / ENTRY_FILE).read_text())
        meta["windows"] = {**meta["windows"], **windows}
        meta["record_sha256"] = _record_digest(meta)
        fd, tmp = tempfile.mkstemp(prefix=f".{ENTRY_FILE}.", dir=dest)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(meta, indent=2, sort_keys=True))
            os.replace(tmp, dest / ENTRY_FILE)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return self.lookup(dest.name) or Entry(dest, {}, meta.get("info", {}))


def _read_meta(path: Path):
    """The entry record, read as strictly as a run file: bounded, regular file, no NaN."""
    from pytest_cegi.core import run_schema

    return run_schema.parse_json(run_schema.read_bounded(path / ENTRY_FILE))


def _check(path: Path, key: str) -> str | None:
    from pytest_cegi.core import run_schema

    try:
        meta = _read_meta(path)
    except (OSError, ValueError) as e:  # RunFileError and JSONDecodeError are ValueErrors
        return f"unreadable {ENTRY_FILE}: {e}"
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
        return "entry written for another key or format"
    try:  # the digest first would hash _Rejected stand-ins: check the shapes first
        _check_record_shape(meta)
    except run_schema.RunFileError as e:
        return f"malformed record in {ENTRY_FILE}: {e}"
    if meta.get("record_sha256") != _record_digest(meta):
        return f"its record ({ENTRY_FILE}) was edited after it was written"
    for name, digest in meta["files"].items():
        f = path / name
        if not f.is_file():
            return f"missing {name}"
        if _sha256_file(f) != digest:
            return f"checksum mismatch in {name}"
    for identity, stored in meta["windows"].items():
        try:
            window = Window.from_dict(stored)
        except (TypeError, KeyError, ValueError, AttributeError) as e:
            return f"unreadable stored window for {identity}: {e}"
        if window.invalid_reason or not _numbers_ok(window):
            return f"stored window for {identity} is not a valid measurement"
    return None


def _check_record_shape(meta: dict) -> None:
    """Types and finiteness of every field a replay uses (run_schema's window check)."""
    from pytest_cegi.core import run_schema

    run_schema.string(meta.get("record_sha256"), "record_sha256")
    if not isinstance(meta.get("files"), dict) or not meta["files"]:
        raise run_schema.RunFileError("files", "no adapter files recorded")
    for name, digest in meta["files"].items():
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise run_schema.RunFileError(f"files.{name}", "not a plain file name in the entry folder")
        run_schema.string(digest, f"files.{name}")
    run_schema.table(meta.get("windows"), "windows")
    for identity, stored in meta["windows"].items():
        run_schema.check_window(stored, f"windows.{identity}")
    run_schema.table(meta.get("info", {}), "info")
    run_schema.plain(meta.get("info", {}), "info")


def _numbers_ok(window: Window) -> bool:
    """Every figure a replay reports is a finite, non-negative number of the right type."""
    figures = (
        window.energy_kwh,
        window.emissions_kg,
        window.duration_s,
        window.cpu_energy_kwh,
        window.gpu_energy_kwh,
        window.ram_energy_kwh,
    )
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in figures)
