"""How reports name files: relative to the project's root, never by a runner's absolute
path (the Markdown report becomes a PR comment, read far from the machine that ran)."""

from __future__ import annotations

import os
from pathlib import Path


def report_path(path: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> str:
    """`path` relative to `root` (pytest's rootdir; the working directory for the
    command line), with forward slashes, when the file lies under it; otherwise, or
    without a root, as given."""
    given = os.fspath(path)
    if root is None:
        return given
    try:
        return Path(given).resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, OSError):
        return given


__all__ = ["report_path"]
