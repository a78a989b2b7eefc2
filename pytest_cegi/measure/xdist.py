"""pytest-xdist integration: keep each task on one worker, reference first.

CEGI needs the reference's score when a candidate finishes, so all tests of a task
must run in one process, in collection order. With plain `-n N` (xdist's implicit
`load`), pytest-cegi switches to `--dist loadfile`: each test file runs on one worker,
in order, which keeps every task that lives in one file together. `loadfile` is
chosen over `loadgroup` because xdist's grouping works by rewriting node ids, which
pytest 9.2 no longer allows (pytest-xdist issue #1386: groups are silently ignored).
Each task is still tagged with an `xdist_group`, so an explicit `--dist loadgroup`
groups by task wherever xdist can. Any explicit mode is respected and the header
says what it means; results always reach the controller, which alone writes reports.
"""

from __future__ import annotations

import pytest

_IMPLICIT_MODE = "loadfile"
_MODE_NOTES = {
    "loadgroup": "--dist loadgroup keeps each task on one worker where pytest-xdist can group "
    "(not on pytest >= 9.2, pytest-xdist#1386); otherwise use --dist loadfile",
    "loadfile": "--dist loadfile keeps a file's tests on one worker, in order: a task spread over "
    "several files may lose its reference (CEGI undefined for those candidates)",
    "loadscope": "--dist loadscope keeps a module or class on one worker: tasks spread over "
    "several scopes may lose their reference (CEGI undefined for those candidates)",
    "each": "--dist each runs every test on every worker: each worker gates its own copy",
}
_SPLITTING = ("load", "worksteal")
_DEFAULT_SWITCHED = pytest.StashKey[bool]()
_LOCKS = pytest.StashKey[set]()


def group_name(task: str) -> str:
    return f"cegi-{task}"


def _xdist_active(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("xdist") and getattr(config.option, "dist", "no") != "no"


def _dist_given(config: pytest.Config) -> bool:
    args = list(config.invocation_params.args) + list(config.getini("addopts") or [])
    return any(str(a) == "-d" or str(a).startswith("--dist") for a in args)


def choose_distribution(config: pytest.Config) -> None:
    """Switch xdist's implicit `load` to `loadfile`; never override an explicit choice."""
    if _xdist_active(config) and config.option.dist == "load" and not _dist_given(config):
        config.option.dist = _IMPLICIT_MODE
        config.stash[_DEFAULT_SWITCHED] = True


def tell_worker(node) -> None:
    """Controller side: pass the final --dist to workers, which re-parse the original
    command line and would not see a mode switched here."""
    node.workerinput["cegi_dist"] = node.config.option.dist
    testrun_uid = node.workerinput.get("testrunuid")
    if testrun_uid:  # the workers' shared window lock (meters/serial.py); removed at the end
        from pytest_cegi.measure.meters.serial import lock_path

        node.config.stash.setdefault(_LOCKS, set()).add(lock_path(testrun_uid))


def remove_locks(config: pytest.Config) -> None:
    """Controller side, after every worker finished: delete the window lock files,
    so runs do not leave /tmp/pytest-cegi-<uuid>.lock behind."""
    import contextlib
    import glob
    import os

    for path in config.stash.get(_LOCKS, set()):
        for lock in [path, *glob.glob(glob.escape(path) + ".gpu*")]:  # and the per-GPU ones
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


def adopt_controller_dist(config: pytest.Config) -> None:
    """Worker side: group by xdist_group when the controller schedules by group."""
    # pytest-xdist sets `workerinput` on a worker's config; pytest's Config does not declare it.
    if config.workerinput.get("cegi_dist") == "loadgroup":  # type: ignore[attr-defined]
        config.option.loadgroup = True


def worker_count(config: pytest.Config) -> int:
    """The workers this controller starts (0 without xdist); `-n auto` as xdist resolves it."""
    if not _xdist_active(config) or getattr(config, "workerinput", None) is not None:
        return 0
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) else 0


def distribution_note(config: pytest.Config) -> str | None:
    if not _xdist_active(config):
        return None
    mode = config.option.dist
    if config.stash.get(_DEFAULT_SWITCHED, False):
        return (
            f"xdist --dist switched to {_IMPLICIT_MODE} so each test file (and the tasks in it) "
            "runs on one worker, reference first"
        )
    if mode in _SPLITTING:
        return (
            f"--dist {mode} can split a task across workers: a candidate whose reference ran "
            "on another worker has no reference score and an undefined CEGI; use --dist loadfile"
        )
    return _MODE_NOTES.get(mode)
