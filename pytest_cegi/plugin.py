"""pytest hooks for pytest-cegi. Hooks only: the work happens in the modules they call.

pytest imports this module in every session of every project the plugin is installed
in, and most of them never use it. So it imports only what registering the options
and the marker needs; settings, the lifecycle, the fixture's and the reports' modules are
imported by the hooks that use them, once a test asks for cegi (the marker or the
fixture) or --cegi-* options or [tool.cegi] configure it (issue 20: start-up cost).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from pytest_cegi import startup
from pytest_cegi.core.options import CLI_OPTIONS, MARKER_HELP, SHARD_FLAG, SHARD_OPTION
from pytest_cegi.measure import xdist as xdist_support  # imports pytest only

if TYPE_CHECKING:
    from pytest_cegi import lifecycle
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
SESSION_RUN: pytest.StashKey[lifecycle.SessionResults] = pytest.StashKey()  # the session's run, built once at its end


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cegi", "pytest-cegi: quality and carbon budgets (also settable in [tool.cegi])")
    for option in CLI_OPTIONS:
        group.addoption(option.flag, **option.addoption_kwargs())
    group.addoption(SHARD_FLAG, **SHARD_OPTION)  # not a [tool.cegi] setting: see core/options.py


OMP_NOTE = pytest.StashKey[str]()
PIN: pytest.StashKey[Pin] = pytest.StashKey()  # this xdist worker's GPU (measure/devices.py)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args) -> None:
    """Before conftest files import torch, CUDA or bitsandbytes (startup.before_conftests)."""
    note, pin = startup.before_conftests(early_config)
    if note:
        early_config.stash[OMP_NOTE] = note
    if pin is not None:
        early_config.stash[PIN] = pin


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    if getattr(config, "workerinput", None) is None:
        if PIN in config.stash:  # not a worker after all: a run started inside one (see startup.pin_gpu)
            startup.unpin(config.stash[PIN])
            del config.stash[PIN]
        xdist_support.choose_distribution(config)
    else:
        xdist_support.adopt_controller_dist(config)
    config.pluginmanager.register(RecordCollector(config), "cegi-records")
    if startup.configured(config):
        _state(config)  # a bad setting or baseline file is a usage error before anything starts


def _state(config: pytest.Config) -> SessionState:
    """The session's state, built on first use: settings parsed, the baseline loaded."""
    state = config.stash.get(STATE, None)
    if state is None:
        state, config.stash[BASELINE] = startup.new_state(config, config.stash.get(PIN, None))
        config.stash[STATE] = state
    return state


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()
    xdist_support.remove_locks(config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` on a host with GPUs: one worker per visible GPU (None: xdist's own count)."""
    if not startup.configured(config):
        return None
    from pytest_cegi.measure.devices import visible_count

    # xdist asks on every process given `-n auto`, workers included: count the GPUs as
    # they were before this process pinned itself.
    return visible_count(pin=config.stash.get(PIN, None)) or None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    xdist_support.tell_worker(node)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return startup.header_lines(config, _state(config).settings, config.stash.get(OMP_NOTE, None))


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
    from pytest_cegi import lifecycle

    state = _state(config)
    for item in wanted:
        item.stash[NODEID] = item.nodeid
        item.stash[SPEC] = lifecycle.spec_of(item, state.settings)
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
    from pytest_cegi import lifecycle

    item = request.node
    state = _state(request.config)
    # No spec only when the fixture was requested dynamically (getfixturevalue).
    spec = item.stash.get(SPEC, None) or lifecycle.spec_of(item, state.settings)
    handle = item.stash[HANDLE] = lifecycle.new_handle(state, item, item.stash.get(NODEID, item.nodeid), spec)
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
    from pytest_cegi import lifecycle

    record = handle.record if handle is not None else lifecycle.unmeasured_record(item, item.stash[NODEID], spec)
    lifecycle.finish_test(
        state,
        record,
        spec,
        baseline=item.config.stash[BASELINE],
        outcome=report.outcome,
        error=lifecycle.error_text(call),
        attempts=item.stash.setdefault(ATTEMPTS, []),
    )
    lifecycle.put_on_report(item, report, record, state.settings)
    return report


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
            from pytest_cegi.core.record import Record

            _state(self.config).records.append(Record.from_dict(data))  # the xdist transport's dict, typed again


# -- end of session: summary and files -------------------------------------------------------


def _session_run(config: pytest.Config, state: SessionState) -> lifecycle.SessionResults:
    """The session's run and comparison, built once for the files and the summary."""
    from pytest_cegi import lifecycle

    if SESSION_RUN not in config.stash:
        config.stash[SESSION_RUN] = lifecycle.SessionResults(state, config.stash[BASELINE])
    return config.stash[SESSION_RUN]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.is_worker or not state.records:
        return
    from pytest_cegi import lifecycle

    lifecycle.write_summary(terminalreporter, config, state, _session_run(config, state))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.is_worker or not state.records:
        return
    from pytest_cegi import lifecycle

    state.stopped = lifecycle.stopped_reason(session, exitstatus)  # before the run is built: it says so
    lifecycle.finish_session(session, state, _session_run(session.config, state))
