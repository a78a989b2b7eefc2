"""pytest hooks for pytest-cegi. Hooks only: the work happens in the modules they call.

pytest imports this module in every session of every project the plugin is installed
in, and most of them never use it. So it imports only what registering the options
and the marker needs; settings, the gate, the fixture's and the reports' modules are
imported by the hooks that use them, once a test asks for cegi (the marker or the
fixture) or --cegi-* options or [tool.cegi] configure it (issue 20: start-up cost).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from pytest_cegi.core.meter_traits import traits_of
from pytest_cegi.core.options import CLI_OPTIONS, cli_values, find_pyproject
from pytest_cegi.measure import xdist as xdist_support  # imports pytest only

if TYPE_CHECKING:
    from pytest_cegi import gate
    from pytest_cegi.judge import budgets
    from pytest_cegi.judge.comparison import Baseline
    from pytest_cegi.measure.devices import Pin
    from pytest_cegi.measure.fixture import Cegi
    from pytest_cegi.measure.session import SessionState

STATE: pytest.StashKey[SessionState] = pytest.StashKey()  # built on first use: _state()
HANDLE: pytest.StashKey[Cegi] = pytest.StashKey()
SPEC: pytest.StashKey[budgets.Spec] = pytest.StashKey()
NODEID = pytest.StashKey[str]()  # node id before xdist's loadgroup adds "@group"
ATTEMPTS = pytest.StashKey[list]()  # earlier attempts of this item (pytest-rerunfailures)
BASELINE: pytest.StashKey[Baseline | None] = pytest.StashKey()  # --cegi-baseline, typed once per process
SESSION_RUN: pytest.StashKey[gate.SessionRun] = pytest.StashKey()  # the session's run, built once at its end

MARKER_HELP = (
    "cegi(task=None, metric=None, floor=None, ceiling=None, max_emissions=None, max_energy=None, "
    "gain='relative', reference=None, phases=None, reference_score=None): "
    "task-score floor and CEGI ceiling (kg CO2e per % gain per million trainable parameters) "
    "and emission limits for this test; see pytest-cegi's README."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cegi", "pytest-cegi: quality and carbon budgets (also settable in [tool.cegi])")
    for option in CLI_OPTIONS:
        group.addoption(option.flag, **option.addoption_kwargs())
    # Not a [tool.cegi] setting: it says which part of the suite this one command runs.
    group.addoption(
        "--cegi-shard",
        dest="cegi_shard",
        default=None,
        metavar="GROUP/SPLITS",
        help="this session runs shard GROUP of SPLITS of one suite (a CI matrix job); recorded in "
        "--cegi-save for `pytest-cegi merge`. pytest-split's --splits/--group declare it too.",
    )


OMP_NOTE = pytest.StashKey[str]()
PIN: pytest.StashKey[Pin] = pytest.StashKey()  # this xdist worker's GPU (measure/devices.py)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args) -> None:
    """Before conftest files import torch: make idle OpenMP threads sleep, so a test's
    CPU time (its attributed energy) is its own work, not spinning beside a neighbour."""
    from pytest_cegi.measure.meters.attribution import omp_wait_policy

    note = omp_wait_policy()
    if note:
        early_config.stash[OMP_NOTE] = note
    if os.environ.get("PYTEST_XDIST_WORKER") and _early_configured(early_config):
        _pin_gpu(early_config)  # before conftest files can import torch and initialise CUDA
    if _early_kernel_path(early_config) == "portable":
        _pin_portable_kernels()  # before conftest files import peft, which imports bitsandbytes


def _early_configured(early_config: pytest.Config) -> bool:
    """`_configured`, from the options known before conftest files load."""
    if any(value is not None for value in cli_values(early_config.known_args_namespace).values()):
        return True
    pyproject = find_pyproject(early_config.rootpath, early_config.inipath)
    try:
        return pyproject is not None and b"cegi" in pyproject.read_bytes()
    except OSError:
        return False


def _pin_gpu(early_config: pytest.Config) -> None:
    """An xdist worker on a host with GPUs: one device for this worker (measure/devices.py).
    PYTEST_XDIST_WORKER is the only sign of a worker this early, and a pytest run started
    inside a worker inherits it: pytest_configure undoes the pin where `workerinput`
    shows the process is no worker."""
    from pytest_cegi.measure.devices import PinError, pin_worker

    try:
        pin = pin_worker()
    except PinError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None
    if pin is not None:
        early_config.stash[PIN] = pin


def _early_kernel_path(early_config: pytest.Config) -> str | None:
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    if getattr(config, "workerinput", None) is None:
        if PIN in config.stash:  # not a worker after all: a run started inside one (see _pin_gpu)
            from pytest_cegi.measure.devices import unpin

            unpin(config.stash[PIN])
            del config.stash[PIN]
        xdist_support.choose_distribution(config)
    else:
        xdist_support.adopt_controller_dist(config)
    config.pluginmanager.register(RecordCollector(config), "cegi-records")
    if _configured(config):
        _state(config)  # a bad setting or baseline file is a usage error before anything starts


def _configured(config: pytest.Config) -> bool:
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


def _state(config: pytest.Config) -> SessionState:
    """The session's state, built on first use: settings parsed, the baseline loaded."""
    state = config.stash.get(STATE, None)
    if state is None:
        state = config.stash[STATE] = _new_state(config)
    return state


def _new_state(config: pytest.Config) -> SessionState:
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
        _pin_portable_kernels()
    if settings.baseline is None:
        config.stash[BASELINE] = None
    else:
        from pytest_cegi import gate

        config.stash[BASELINE] = gate.load_baseline(settings)  # a bad file is a usage error
    worker = getattr(config, "workerinput", None)
    return SessionState(
        settings=settings,
        is_worker=worker is not None,
        run_id=worker.get("testrunuid") if worker else None,
        pacer=_duet_pacer(worker is not None or getattr(config.option, "numprocesses", None)),
        shard=_shard(config),
        pin=config.stash.get(PIN, None),
    )


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


def _pin_portable_kernels() -> None:
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


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()
    xdist_support.remove_locks(config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` on a host with GPUs: one worker per visible GPU (None: xdist's own count)."""
    if not _configured(config):
        return None
    from pytest_cegi.measure.devices import visible_count

    # xdist asks on every process given `-n auto`, workers included: count the GPUs as
    # they were before this process pinned itself.
    return visible_count(pin=config.stash.get(PIN, None)) or None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    xdist_support.tell_worker(node)


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = _state(config).settings
    mode = "enforced" if s.enforce else "report only (use --cegi-budget to enforce)"
    lines = [f"cegi: meter {s.meter}, carbon factor {s.carbon.source}, budgets {mode}"]
    if traits_of(s.meter).attributes_cpu_time and OMP_NOTE in config.stash:
        lines.append(f"cegi: {config.stash[OMP_NOTE]}")
    note = xdist_support.distribution_note(config)
    if note:
        lines.append(f"cegi: {note}")
    workers = xdist_support.worker_count(config)
    if workers and _configured(config):
        from pytest_cegi.measure.devices import plan_note

        gpu_note = plan_note(workers)
        if gpu_note:
            lines.append(f"cegi: {gpu_note}")
    return lines


def pytest_make_parametrize_id(config, val, argname):
    # A Variant exists only once its module is imported (never import torch stacks here).
    variants = sys.modules.get("pytest_cegi.models.variants")
    if variants is not None and isinstance(val, variants.Variant):
        return val.name
    return None


# -- collection: specs, references, order --------------------------------------------------


def _wants_cegi(item) -> bool:
    return "cegi" in getattr(item, "fixturenames", ()) or item.get_closest_marker("cegi") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    """First, before xdist rewrites node ids: parse markers, resolve limits, and
    group each task onto one xdist worker."""
    wanted = [item for item in items if _wants_cegi(item)]
    if not wanted:
        return
    from pytest_cegi.core.settings import SettingsError
    from pytest_cegi.judge import budgets

    state = _state(config)
    for item in wanted:
        item.stash[NODEID] = item.nodeid
        marker = item.get_closest_marker("cegi")
        try:
            kwargs = budgets.parse_marker(item.nodeid, marker.args, marker.kwargs) if marker else {}
        except SettingsError as exc:
            raise pytest.UsageError(f"pytest-cegi: {exc}") from None
        item.stash[SPEC] = budgets.resolve(
            item.nodeid, getattr(item, "originalname", item.name), kwargs, state.settings.budgets
        )
        if state.is_worker:
            item.add_marker(pytest.mark.xdist_group(xdist_support.group_name(item.stash[SPEC].task)))


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_cegi_references_and_order(session, config, items) -> None:
    """Last, after deselection: pick each task's reference and run it first."""
    measured = sum(1 for item in items if SPEC in item.stash)
    if STATE in config.stash:
        config.stash[STATE].expected = measured
    if not measured:
        return
    from pytest_cegi.core.settings import SettingsError
    from pytest_cegi.measure import collection

    try:
        specs = collection.choose_references(items, lambda i: i.stash.get(SPEC, None), lambda i: i.stash[NODEID])
    except SettingsError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None
    for item in items:
        if id(item) in specs:
            item.stash[SPEC] = specs[id(item)]


# -- the fixture ---------------------------------------------------------------------------


@pytest.fixture
def cegi(request: pytest.FixtureRequest) -> Cegi:
    """Measure windows, record scores and describe the model variant of this test."""
    from pytest_cegi.judge import budgets
    from pytest_cegi.measure import collection
    from pytest_cegi.measure.fixture import Cegi

    state = _state(request.config)
    item = request.node
    # No spec only when the fixture was requested dynamically (getfixturevalue).
    spec = item.stash.get(SPEC, None) or budgets.resolve(
        item.nodeid, getattr(item, "originalname", item.name), {}, state.settings.budgets
    )
    handle = Cegi(
        nodeid=item.stash.get(NODEID, item.nodeid),
        spec=spec,
        meter_factory=state.get_meter,
        work_model_factory=state.get_work_model,
        pacer=state.pacer,
        default_variant=collection.default_variant(item),
        variant_param=collection.variant_param(item),
        repeat=state.settings.repeat,
        cache_dir=state.settings.cache_dir,
    )
    item.stash[HANDLE] = handle
    return handle


# -- verdicts on the test report ------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    state = item.config.stash.get(STATE, None)
    if call.when != "call" or state is None or report.skipped:
        return report
    spec = item.stash.get(SPEC, None)
    handle = item.stash.get(HANDLE, None)
    if spec is None:
        return report
    from pytest_cegi import gate
    from pytest_cegi.core.record import Record
    from pytest_cegi.core.run import SavedRecord
    from pytest_cegi.judge import budgets
    from pytest_cegi.measure import collection
    from pytest_cegi.report import junit

    record = (
        handle.record
        if handle is not None
        else Record(
            nodeid=item.stash[NODEID],
            task=spec.task,
            variant=collection.default_variant(item),
            reference=bool(spec.reference),
        )
    )
    gate.finish_test(
        state,
        record,
        spec,
        baseline=item.config.stash[BASELINE],
        outcome=report.outcome,
        error=_raised(call),
        attempts=item.stash.setdefault(ATTEMPTS, []),
    )
    report.cegi_record = record.to_dict()  # travels to the xdist controller with the report
    # Replace, not add to, an earlier attempt's properties: one set per test.
    item.user_properties[:] = [p for p in item.user_properties if not str(p[0]).startswith("cegi.")]
    if not _junit_forbids_properties(item.config):
        item.user_properties.extend(junit.properties(SavedRecord.of(record)))
    if report.passed and gate.fails_test(record, state.settings):
        report.outcome = "failed"
        # One line per violated limit; the first shows in pytest's short summary.
        report.longrepr = "\n".join(budgets.failure_messages(record))
    return report


def _junit_forbids_properties(config: pytest.Config) -> bool:
    """Whether this session writes --junitxml in a family whose schema forbids
    <properties> in a testcase (xunit2, pytest's default): pytest writes every
    user_property there, so the cegi.* ones are left out. Other plugins' and tests'
    user_properties are theirs to place, and stay. Without --junitxml the figures
    stay too, for other consumers of user_properties (--report-log, pytest-html)."""
    if not getattr(config.option, "xmlpath", None):
        return False
    from pytest_cegi.report import junit

    return not junit.testcase_properties_allowed(config.getini("junit_family"))


ERROR_CHARS = 600  # a raised message kept in the record: room for a library's fix


def _raised(call) -> str | None:
    """ "ValueError: boom" when the test body raised (not a skip or xfail), else None."""
    excinfo = call.excinfo
    if excinfo is None or excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
        return None
    # The whole message on one line: libraries put the fix after the first line
    # ("... requires the scipy library.\nYou can install it with pip: ...").
    text = " ".join(str(excinfo.value).split())
    if len(text) > ERROR_CHARS:
        text = text[: ERROR_CHARS - 1] + "…"
    return f"{excinfo.typename}: {text}" if text else excinfo.typename


class RecordCollector:
    """Collects finished records from test reports. Registered per session because
    `pytest_runtest_logreport` gets no config; under xdist it runs on the controller
    with the reports the workers sent (the controller collects no tests, so its state
    is built by the first record)."""

    def __init__(self, config: pytest.Config):
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "cegi_record", None)
        # An attempt pytest-rerunfailures will retry is not kept: the last attempt's
        # record says how many reruns there were and what they spent.
        if data is not None and report.when == "call" and report.outcome != "rerun":
            _state(self.config).records.append(data)


# -- end of session: summary and files -------------------------------------------------------


def _session_run(config: pytest.Config, state: SessionState) -> gate.SessionRun:
    """The session's run and comparison, built once for the files and the summary."""
    from pytest_cegi import gate

    if SESSION_RUN not in config.stash:
        config.stash[SESSION_RUN] = gate.SessionRun(state, config.stash[BASELINE])
    return config.stash[SESSION_RUN]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.is_worker or not state.records:
        return
    from pytest_cegi.report import junit, terminal
    from pytest_cegi.report.paths import report_path

    session_run = _session_run(config, state)
    baseline = state.settings.baseline
    terminal.write_summary(
        terminalreporter,
        session_run.run,
        enforce=state.settings.enforce,
        written=state.written,
        comparison=session_run.comparison,
        # named as the Markdown report names it: relative to the rootdir
        baseline_label=report_path(baseline, state.settings.rootdir) if baseline else None,
    )
    if _junit_forbids_properties(config):  # once per session, on the controller only
        terminalreporter.write_line(junit.XUNIT2_NOTE)


def _stopped(session: pytest.Session, exitstatus) -> str | None:
    """Why the session ended before running every selected test, or None."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    reason = session.shouldstop or session.shouldfail
    return str(reason) if reason else None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.is_worker or not state.records:
        return
    from pytest_cegi import gate

    state.stopped = _stopped(session, exitstatus)
    try:
        gate.write_outputs(state, _session_run(session.config, state))
    except OSError as exc:
        session.config.get_terminal_writer().line(f"pytest-cegi: could not write results: {exc}", red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
