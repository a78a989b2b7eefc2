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


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as the user would type it from here: relative to the working directory when inside it."""
    return report_path(path, Path.cwd())


def refresh_command(run: str | os.PathLike[str] | None, baseline: str | os.PathLike[str] | None) -> str:
    """The exact commands that make a run the baseline, through `update`'s checks; the one
    hint the terminal, the Markdown report and `pytest-cegi compare` show. Without a saved
    run: save one first (never overwrite the baseline with --cegi-save)."""
    target = shown_path(baseline) if baseline else "BASELINE.json"
    if run:
        return f"pytest-cegi update {shown_path(run)} {target}"
    return f"pytest --cegi-save RUN.json  # rerun the same tests, then:\npytest-cegi update RUN.json {target}"


__all__ = ["refresh_command", "report_path", "shown_path"]
