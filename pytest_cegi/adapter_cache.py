"""Content-addressed cache of fine-tuned adapters.

A carbon gate must not burn carbon re-training what it trained last run. An
adapter is stored under a key hashing everything that decides its weights: the
base model's files, the variant's LoRA/quantization/dtype settings, the training
records and the fine-tuning settings (not the variant's name, so renaming a
variant reuses its adapter). With the adapter we keep the measured fine-tuning
window, so a cache hit can report the energy the adapter cost, marked cached.

Layout: `<cache_dir>/adapters/<key>/` holding the peft adapter files and
`cegi-entry.json` (written last) with the window and a SHA-256 of every file.
A missing or mismatching file makes the entry corrupt: it is deleted and rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from pytest_cegi.meters.base import Window

ENTRY_FILE = "cegi-entry.json"
FORMAT = 1
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
    files = sorted(p for p in root.iterdir() if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name == "config.json"))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    memo = (str(root.resolve()), stamp)
    if memo not in _fingerprints:
        h = hashlib.sha256()
        for p in files:
            h.update(p.name.encode() + b"\0" + _sha256_file(p).encode())
        _fingerprints[memo] = h.hexdigest()
    return _fingerprints[memo]


def cache_key(base: str, variant_spec: dict, records: list[dict], settings: dict) -> str:
    payload = {"format": FORMAT, "base": base, "variant": variant_spec, "settings": settings,
               "data": hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    path: Path
    window: Window | None    # the fine-tuning window measured when the adapter was trained
    info: dict               # steps, final loss, ...


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
            warnings.warn(f"pytest-cegi: adapter cache entry {path} is corrupt ({problem}); rebuilding it")
            shutil.rmtree(path, ignore_errors=True)
            return None
        meta = json.loads((path / ENTRY_FILE).read_text())
        window = Window.from_dict(meta["window"]) if meta.get("window") else None
        return Entry(path, window, meta.get("info", {}))

    def store(self, key: str, model, window: Window | None, info: dict) -> Entry:
        """Save a peft model's adapter atomically: a temp dir renamed into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            model.save_pretrained(tmp)
            files = {p.name: _sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            meta = {"format": FORMAT, "key": key, "files": files, "info": info,
                    "window": window.to_dict() if window else None}
            (tmp / ENTRY_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
            dest = self.root / key
            if dest.exists() and _check(dest, key):  # a corrupt leftover; a valid one stays
                shutil.rmtree(dest, ignore_errors=True)
            try:
                os.rename(tmp, dest)
            except OSError:  # another process stored the same key first: keep theirs
                if _check(dest, key):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Entry(dest, window, info)


def _check(path: Path, key: str) -> str | None:
    try:
        meta = json.loads((path / ENTRY_FILE).read_text())
    except (OSError, ValueError) as e:
        return f"unreadable {ENTRY_FILE}: {e}"
    if meta.get("format") != FORMAT or meta.get("key") != key:
        return "entry written for another key or format"
    if not meta.get("files"):
        return "no adapter files recorded"
    for name, digest in meta["files"].items():
        f = path / name
        if not f.is_file():
            return f"missing {name}"
        if _sha256_file(f) != digest:
            return f"checksum mismatch in {name}"
    try:
        if meta.get("window"):
            Window.from_dict(meta["window"])
    except (TypeError, KeyError) as e:
        return f"unreadable stored window: {e}"
    return None
