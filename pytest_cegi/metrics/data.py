"""Load task data (JSONL, JSON, CSV) as a list of dicts, or as a `datasets.Dataset`.

`load_records` needs only the standard library. `load_dataset` uses Hugging Face
`datasets`' packaged json/csv builders on local files, with the Hub switched off.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from pytest_cegi.metrics.base import MetricError, require

_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv"}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _BUILDERS:
        raise MetricError(f"{path}: unsupported data file type {suffix or '(none)'!r}; use .jsonl, .json or .csv")
    if not path.is_file():
        raise MetricError(f"data file not found: {path}")
    return suffix


def load_records(path: str | os.PathLike) -> list[dict]:
    """Read a .jsonl (one object per line), .json (a list of objects) or .csv (header row) file."""
    path = Path(path)
    suffix = _suffix(path)
    # utf-8-sig: tolerate the byte-order mark that spreadsheet exports put first.
    with path.open(encoding="utf-8-sig", newline="" if suffix == ".csv" else None) as fh:
        if suffix == ".csv":
            return [dict(row) for row in csv.DictReader(fh)]
        if suffix == ".json":
            records = _parse_json(fh.read(), path)
            if isinstance(records, dict) and isinstance(records.get("data"), list):
                records = records["data"]  # the {"data": [...]} layout many datasets use
            if not isinstance(records, list):
                raise MetricError(f"{path}: expected a JSON list of objects, got {type(records).__name__}")
            _check_objects(records, path)
            return records
        records = [_parse_json(line, path, n) for n, line in enumerate(fh, 1) if line.strip()]
        _check_objects(records, path)
        return records


def _parse_json(text: str, path: Path, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{path}:{line}" if line else str(path)
        raise MetricError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None


def _check_objects(records: list, path: Path) -> None:
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise MetricError(f"{path}: record {i + 1} is a {type(rec).__name__}, expected an object")


def load_dataset(path: str | os.PathLike, *, split: str = "train", **kwargs: Any):
    """Load a local .jsonl/.json/.csv file with `datasets`, never touching the network.

    Extra keyword arguments (e.g. ``cache_dir=``) go to `datasets.load_dataset`.
    """
    path = Path(path)
    builder = _BUILDERS[_suffix(path)]
    # Read at import time by `datasets`, so it only helps when datasets is not yet imported;
    # local files through packaged builders do not need the Hub either way.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    datasets = require("datasets")
    return datasets.load_dataset(builder, data_files=str(path), split=split, **kwargs)
