"""The session's start, for the plugin's hooks: what the options say before conftest
files load (is the plugin configured, the kernel path, this xdist worker's GPU), and
the session's state built from the settings. Every failure is a pytest usage error.

Imported by hooks that run in every session, so it imports only the options at module
level; settings, the lifecycle and the meters are imported when a session uses cegi.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from pytest_cegi.core.meter_traits import traits_of
from pytest_cegi.core.options import cli_values, find_pyproject
from pytest_cegi.measure import xdist as xdist_support

if TYPE_CHECKING:
    from pytest_cegi.core.settings import Settings
    from pytest_cegi.judge.comparison import Baseline
    from pytest_cegi.measure.devices import Pin
    from pytest_cegi.measure.session import SessionState


def before_conftests(early_config: pytest.Config) -> tuple[str | None, Pin | None]:
    """What must happen before conftest files import torch: idle OpenMP threads sleep (so a
    test's CPU time, its attributed energy, is its own work, not spinning beside a
    neighbour); an xdist worker pins its GPU (before CUDA initialises); the portable
    4-bit kernels are pinned (before peft imports bitsandbytes). Returns the OpenMP note
    for the header and the worker's pin."""
    import os

    from pytest_cegi.measure.meters.attribution import omp_wait_policy

    note = omp_wait_policy()
    pin = pin_gpu() if os.environ.get("PYTEST_XDIST_WORKER") and early_configured(early_config) else None
    if early_kernel_path(early_config) == "portable":
        pin_portable_kernels()
    return note or None, pin


def early_configured(early_config: pytest.Config) -> bool:
    """`configured`, from the options known before conftest files load."""
    if any(value is not None for value in cli_values(early_config.known_args_namespace).values()):
        return True
    pyproject = find_pyproject(early_config.rootpath, early_config.inipath)
    try:
        return pyproject is not None and b"cegi" in pyproject.read_bytes()
    except OSError:
        return False


def configured(config: pytest.Config) -> bool:
    """Whether --cegi-* options or a pyproject.toml that mentions cegi may configure the
    plugin. A cheap test: it reads the file but parses nothing."""
    if any(value is not None for value in cli_values(config.option).values()):
        return True
    pyproject = find_pyproject(config.rootpath, config.inipath)
    if pyproject is None:
        return False
    try:
        return b"cegi" in pyproject.read_bytes()
    except OSError:
        return True  # settings.load says what is wrong with it


def pin_gpu() -> Pin | None:
    """An xdist worker on a host with GPUs: one device for this worker (measure/devices.py).
    PYTEST_XDIST_WORKER is the only sign of a worker this early, and a pytest run started
    inside a worker inherits it: pytest_configure undoes the pin where `workerinput`
    shows the process is no worker."""
    from pytest_cegi.measure.devices import PinError, pin_worker

    try:
        return pin_worker()
    except PinError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None


def early_kernel_path(early_config: pytest.Config) -> str | None:
    """kernel_path from the command line or pyproject.toml, read before conftest files
    load; settings.load validates it later (a budget file's value is pinned then)."""
    given = cli_values(early_config.known_args_namespace).get("kernel_path")
    if given is not None:
        return str(given)
    pyproject = find_pyproject(early_config.rootpath, early_config.inipath)
    try:
        if pyproject is None or b"kernel_path" not in pyproject.read_bytes():
            return None
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("cegi", {})
    except (OSError, ValueError, AttributeError):
        return None  # settings.load reports what is wrong with the file
    value = table.get("kernel_path") if isinstance(table, dict) else None
    return value if isinstance(value, str) else None


def new_state(config: pytest.Config, pin: Pin | None) -> tuple[SessionState, Baseline | None]:
    """The session's state (settings parsed and checked) and its baseline, typed once;
    a bad setting or baseline file is a usage error."""
    import dataclasses

    from pytest_cegi.core.settings import SettingsError, load
    from pytest_cegi.measure.session import SessionState

    try:
        settings = load(cli_values(config.option), config.rootpath, config.inipath)
    except SettingsError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None
    if settings.cache_dir is None:
        settings = dataclasses.replace(settings, cache_dir=config.rootpath / ".cegi-cache")
    _check_flops_profile(settings)
    if settings.kernel_path == "portable":
        pin_portable_kernels()
    baseline = None
    if settings.baseline is not None:
        from pytest_cegi import lifecycle

        baseline = lifecycle.load_baseline(settings)  # a bad file is a usage error
    worker = getattr(config, "workerinput", None)
    state = SessionState(
        settings=settings,
        is_worker=worker is not None,
        testrun_uid=worker.get("testrunuid") if worker else None,
        pacer=_duet_pacer(worker is not None or getattr(config.option, "numprocesses", None)),
        shard=_shard(config),
        pin=pin,
    )
    return state, baseline


def _duet_pacer(parallel: object):
    """One side of a duet (CEGI_DUET_DIR, set by ab_energy.py --duet), or None."""
    from pytest_cegi.measure.duet import DuetError, DuetPacer

    try:
        pacer = DuetPacer.from_env()
    except DuetError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None
    if pacer is not None and parallel:
        raise pytest.UsageError("pytest-cegi: a duet side runs in one process; drop -n (pytest-xdist)")
    return pacer


def _shard(config: pytest.Config):
    """The shard this session runs: --cegi-shard GROUP/SPLITS or pytest-split's options."""
    from pytest_cegi.core.shard import ShardError, declared_shard

    try:
        split = config.pluginmanager.has_plugin("pytest-split")  # --group is a generic name: only its own
        return declared_shard(
            getattr(config.option, "cegi_shard", None),
            getattr(config.option, "splits", None) if split else None,
            getattr(config.option, "group", None) if split else None,
        )
    except ShardError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None


def pin_portable_kernels() -> None:
    """Before any test imports bitsandbytes: its generic CPU 4-bit path on every CPU."""
    from pytest_cegi.models.kernel_path import KernelPathError, pin_portable

    try:
        pin_portable()
    except KernelPathError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None


def _check_flops_profile(settings) -> None:
    """Fail at start-up, not at the first window, on a bad device profile (every
    meter's windows are priced by it)."""
    from pytest_cegi.measure.profile import ProfileError, load_profile

    try:
        load_profile(settings.flops_profile)
    except ProfileError as exc:
        raise pytest.UsageError(f"pytest-cegi: device profile: {exc}") from None


def unpin(pin: Pin) -> None:
    """Undo `pin_gpu` in a process that turned out to be no xdist worker."""
    from pytest_cegi.measure.devices import unpin as undo

    undo(pin)


def header_lines(config: pytest.Config, s: Settings, omp_note: str | None) -> list[str]:
    """pytest's header: the meter, carbon factor and mode; notes on threads and workers."""
    mode = "enforced" if s.enforce else "report only (use --cegi-budget to enforce)"
    lines = [f"cegi: meter {s.meter}, carbon factor {s.carbon.source}, budgets {mode}"]
    if traits_of(s.meter).attributes_cpu_time and omp_note is not None:
        lines.append(f"cegi: {omp_note}")
    note = xdist_support.distribution_note(config)
    if note:
        lines.append(f"cegi: {note}")
    workers = xdist_support.worker_count(config)
    if workers and configured(config):
        from pytest_cegi.measure.devices import plan_note

        gpu_note = plan_note(workers)
        if gpu_note:
            lines.append(f"cegi: {gpu_note}")
    return lines
