"""pytest hooks for pytest-cegi. Hooks only: the work happens in the modules they call."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from pathlib import Path

import pytest

from pytest_cegi import gate
from pytest_cegi.core.record import Record
from pytest_cegi.core.settings import METERS, SettingsError, load
from pytest_cegi.judge import budgets
from pytest_cegi.measure import xdist as xdist_support
from pytest_cegi.measure.fixture import Cegi, loaded_variant_class
from pytest_cegi.measure.session import SessionState
from pytest_cegi.report import junit, terminal

STATE = pytest.StashKey[SessionState]()
HANDLE = pytest.StashKey[Cegi]()
SPEC = pytest.StashKey[budgets.Spec]()
NODEID = pytest.StashKey[str]()  # node id before xdist's loadgroup adds "@group"
ATTEMPTS = pytest.StashKey[list]()  # earlier attempts of this item (pytest-rerunfailures)
REPEAT_PARAM = "__pytest_repeat_step_number"  # pytest-repeat's parameter

MARKER_HELP = (
    "cegi(task=None, metric=None, floor=None, ceiling=None, max_emissions=None, max_energy=None, "
    "gain='relative', reference=None, phases=None, reference_score=None): "
    "task-score floor and CEGI ceiling (kg CO2e per % gain per million trainable parameters) "
    "and emission limits for this test; see pytest-cegi's README."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cegi", "pytest-cegi: quality and carbon budgets (also settable in [tool.cegi])")
    group.addoption(
        "--cegi-budget",
        nargs="?",
        const=True,
        default=None,
        metavar="FILE",
        help="enforce budgets: violations fail the test. FILE: an extra TOML budget file.",
    )
    group.addoption(
        "--cegi-baseline", metavar="FILE", help="compare with a saved run (JSON); regressions are violations"
    )
    group.addoption("--cegi-save", metavar="FILE", help="write this run's results as JSON (atomic, schema-versioned)")
    group.addoption(
        "--cegi-report",
        metavar="FILE.md",
        help="write a Markdown efficiency report (also appended to $GITHUB_STEP_SUMMARY)",
    )
    group.addoption(
        "--cegi-junit", metavar="FILE.xml", help="write a standalone JUnit file with one testcase per budget check"
    )
    group.addoption("--cegi-plot", metavar="FILE", help="write a score-vs-emissions Pareto plot (PNG and SVG)")
    group.addoption(
        "--cegi-meter",
        choices=METERS,
        default=None,
        help="codecarbon: measured energy (default); flops: deterministic FLOP-based estimate; fake: for testing the plugin",
    )
    group.addoption(
        "--cegi-repeat", type=int, metavar="N", default=None, help="repeat each measured inference window N times"
    )
    group.addoption("--cegi-country", metavar="ISO3", help="carbon factor from this country's grid mix (offline data)")
    group.addoption(
        "--cegi-carbon-intensity", type=float, metavar="G_PER_KWH", help="fixed carbon factor in g CO2e per kWh"
    )
    group.addoption(
        "--cegi-allow-energy-mismatch",
        action="store_true",
        default=None,
        help="compare energy with a baseline from other hardware, meter or carbon factor",
    )
    group.addoption(
        "--cegi-cache-dir",
        metavar="DIR",
        help="where fine-tuned adapters and tiny models are cached (default: .cegi-cache)",
    )


OMP_NOTE = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args) -> None:
    """Before conftest files import torch: make idle OpenMP threads sleep, so a test's
    CPU time (its attributed energy) is its own work, not spinning beside a neighbour."""
    from pytest_cegi.measure.meters.attribution import omp_wait_policy

    note = omp_wait_policy()
    if note:
        early_config.stash[OMP_NOTE] = note


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    opt = config.option
    cli = {
        "budget": opt.cegi_budget,
        "baseline": opt.cegi_baseline,
        "save": opt.cegi_save,
        "report": opt.cegi_report,
        "junit": opt.cegi_junit,
        "plot": opt.cegi_plot,
        "meter": opt.cegi_meter,
        "repeat": opt.cegi_repeat,
        "country": opt.cegi_country,
        "carbon_intensity": opt.cegi_carbon_intensity,
        "cache_dir": opt.cegi_cache_dir,
        "allow_energy_mismatch": opt.cegi_allow_energy_mismatch,
    }
    try:
        settings = load(cli, config.rootpath, config.inipath)
    except SettingsError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None
    if settings.cache_dir is None:
        settings = dataclasses.replace(settings, cache_dir=config.rootpath / ".cegi-cache")
    if settings.meter == "flops":
        _check_flops_profile(settings)
    worker = getattr(config, "workerinput", None)
    state = SessionState(
        settings=settings,
        is_worker=worker is not None,
        run_id=worker.get("testrunuid") if worker else None,
        baseline_run=gate.load_baseline(settings),
    )
    config.stash[STATE] = state
    if worker is None:
        xdist_support.choose_distribution(config)
    else:
        xdist_support.adopt_controller_dist(config)
    config.pluginmanager.register(RecordCollector(state), "cegi-records")


def _check_flops_profile(settings) -> None:
    """Fail at start-up, not at the first window, on a bad device profile."""
    from pytest_cegi.measure.meters.flops import ProfileError, load_profile

    try:
        load_profile(settings.flops_profile)
    except ProfileError as exc:
        raise pytest.UsageError(f"pytest-cegi: flops profile: {exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()
    xdist_support.remove_locks(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    xdist_support.tell_worker(node)


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[STATE].settings
    mode = "enforced" if s.enforce else "report only (use --cegi-budget to enforce)"
    lines = [f"cegi: meter {s.meter}, carbon factor {s.carbon.source}, budgets {mode}"]
    if s.meter == "codecarbon" and OMP_NOTE in config.stash:
        lines.append(f"cegi: {config.stash[OMP_NOTE]}")
    note = xdist_support.distribution_note(config)
    if note:
        lines.append(f"cegi: {note}")
    return lines


def pytest_make_parametrize_id(config, val, argname):
    variant_class = loaded_variant_class()
    if variant_class is not None and isinstance(val, variant_class):
        return val.name
    return None


# -- collection: specs, references, order --------------------------------------------------


def _variant_param(item):
    variant_class = loaded_variant_class()
    callspec = getattr(item, "callspec", None)
    if variant_class is None or callspec is None:
        return None
    return next((v for v in callspec.params.values() if isinstance(v, variant_class)), None)


def _wants_cegi(item) -> bool:
    return "cegi" in getattr(item, "fixturenames", ()) or item.get_closest_marker("cegi") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    """First, before xdist rewrites node ids: parse markers, resolve limits, and
    group each task onto one xdist worker."""
    state = config.stash[STATE]
    for item in items:
        if not _wants_cegi(item):
            continue
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
    by_task = defaultdict(list)
    for item in items:
        spec = item.stash.get(SPEC, None)
        if spec is not None:
            by_task[spec.task].append([item, spec, _variant_param(item)])
    for task, entries in by_task.items():
        _choose_reference(task, entries)
        for item, spec, _ in entries:
            item.stash[SPEC] = spec
    _reference_first(items, by_task)


def _choose_reference(task: str, entries: list) -> None:
    """Mark exactly one entry as the task's reference, or none (DESIGN.md section 3)."""

    def explicit(entry):
        _, spec, variant = entry
        return spec.reference is True or (spec.reference is None and variant is not None and variant.reference is True)

    chosen = [e for e in entries if explicit(e)]
    if not chosen:
        chosen = [
            e
            for e in entries
            if e[1].reference is None and e[2] is not None and e[2].reference is None and e[2].is_base
        ]
        kind = "candidate reference variants (no adapter, LoRA or quantization)"
    else:
        kind = "tests marked as reference"
    # pytest-repeat's copies of one test are one reference, run (and scored) each time.
    if len(chosen) > 1 and len({_unrepeated_key(e[0]) for e in chosen}) > 1:
        ids = ", ".join(e[0].stash[NODEID] for e in chosen)
        raise pytest.UsageError(
            f"pytest-cegi: task {task!r} has {len(chosen)} {kind}: {ids}; mark exactly one with reference=True"
        )
    for entry in entries:
        entry[1] = dataclasses.replace(entry[1], reference=any(entry is c for c in chosen))


def _unrepeated_key(item) -> tuple:
    """The item without pytest-repeat's step parameter: its copies share this key."""
    callspec = getattr(item, "callspec", None)
    params = {} if callspec is None else {k: v for k, v in callspec.params.items() if k != REPEAT_PARAM}
    return (str(item.path), getattr(item, "originalname", item.name), repr(sorted(params.items(), key=str)))


def _reference_first(items: list, by_task: dict) -> None:
    """Move each task's reference just before the first test of its task, so its score
    exists when the others finish. One stable sort: large suites stay O(n log n)."""
    position = {id(item): float(i) for i, item in enumerate(items)}
    for entries in by_task.values():
        first = min(position[id(e[0])] for e in entries)
        for ref in (e[0] for e in entries if e[1].reference):  # several only under pytest-repeat
            position[id(ref)] = first - 0.5
    items.sort(key=lambda item: position[id(item)])


# -- the fixture ---------------------------------------------------------------------------


@pytest.fixture
def cegi(request: pytest.FixtureRequest) -> Cegi:
    """Measure windows, record scores and describe the model variant of this test."""
    state = request.config.stash[STATE]
    item = request.node
    # No spec only when the fixture was requested dynamically (getfixturevalue).
    spec = item.stash.get(SPEC, None) or budgets.resolve(
        item.nodeid, getattr(item, "originalname", item.name), {}, state.settings.budgets
    )
    handle = Cegi(
        nodeid=item.stash.get(NODEID, item.nodeid),
        spec=spec,
        meter_factory=state.get_meter,
        default_variant=_default_variant(item),
        variant_param=_variant_param(item),
        repeat=state.settings.repeat,
        cache_dir=state.settings.cache_dir,
    )
    item.stash[HANDLE] = handle
    return handle


def _default_variant(item) -> str:
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else item.name


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
    record = (
        handle.record
        if handle is not None
        else Record(
            nodeid=item.stash[NODEID], task=spec.task, variant=_default_variant(item), reference=bool(spec.reference)
        )
    )
    record.outcome = report.outcome
    budgets.finish(
        record, spec, state.reference_scores.get(spec.task), enforce=state.settings.enforce, error=_raised(call)
    )
    # pytest-rerunfailures runs the same item again after a failure: this record (the
    # latest attempt) carries the count and energy of the attempts before it.
    attempts = item.stash.setdefault(ATTEMPTS, [])
    record.reruns = len(attempts)
    record.rerun_energy_kwh = sum(a[0] for a in attempts)
    record.rerun_emissions_kg = sum(a[1] for a in attempts)
    attempts.append((record.energy_kwh, record.emissions_kg))
    if state.baseline_run is not None:
        record.checks += gate.regression_checks(state, record)
        budgets.set_verdict(record, enforce=state.settings.enforce)
    if record.reference and record.score is not None:
        state.reference_scores[spec.task] = record.score
    data = record.to_dict()
    report.cegi_record = data  # travels to the xdist controller with the report
    # Replace, not add to, an earlier attempt's properties: one set per test.
    item.user_properties[:] = [p for p in item.user_properties if not str(p[0]).startswith("cegi.")]
    item.user_properties.extend(junit.properties(data))
    if report.passed and _fails_test(record, state.settings):
        report.outcome = "failed"
        # One line per violated limit; the first shows in pytest's short summary.
        report.longrepr = "\n".join(budgets.failure_messages(record))
    return report


def _raised(call) -> str | None:
    """ "ValueError: boom" when the test body raised (not a skip or xfail), else None."""
    excinfo = call.excinfo
    if excinfo is None or excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
        return None
    text = str(excinfo.value).strip().splitlines()
    first = text[0][:200] if text else ""
    return f"{excinfo.typename}: {first}" if first else excinfo.typename


def _fails_test(record: Record, settings) -> bool:
    if not settings.enforce:
        return False
    return record.verdict == "fail" or (record.verdict == "invalid" and settings.invalid == "fail")


class RecordCollector:
    """Collects finished records from test reports. Registered per session because
    `pytest_runtest_logreport` gets no config; under xdist it runs on the controller
    with the reports the workers sent."""

    def __init__(self, state: SessionState):
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "cegi_record", None)
        # An attempt pytest-rerunfailures will retry is not kept: the last attempt's
        # record says how many reruns there were and what they spent.
        if data is not None and report.when == "call" and report.outcome != "rerun":
            self.state.records.append(data)


# -- end of session: summary and files -------------------------------------------------------


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.is_worker or not state.records:
        return
    tr = terminalreporter
    tr.write_sep("=", "cegi: quality and carbon")
    for line in terminal.render(state.records, state.meter_method()):
        tr.write_line(_printable(line))
    warned = [r for r in state.records if r["verdict"] in ("warn", "invalid", "error")]
    if warned:
        tr.write_sep("-", "cegi budget warnings" if not state.settings.enforce else "cegi budget violations")
        for r in warned:
            for check in r["checks"]:
                if check["status"] in ("fail", "invalid"):
                    tr.write_line(_printable(f"{r['verdict'].upper()} {r['nodeid']}: {check['message']}"))
    for warning in gate.run_warnings(state):
        tr.write_line(_printable(f"cegi: WARNING {warning}"), yellow=True)
    for path in state.written:
        tr.write_line(f"cegi: wrote {path}")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(line: str) -> str:
    """Names come from test code and budget files: no escape sequence of theirs may
    recolour, erase or rewrite CI log lines (a fake "passed")."""
    return _CONTROL.sub("?", line)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.is_worker:
        return
    try:
        _write_outputs(state)
    except OSError as exc:
        session.config.get_terminal_writer().line(f"pytest-cegi: could not write results: {exc}", red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _write_outputs(state: SessionState) -> None:
    s = state.settings
    # A session that measured nothing (e.g. `pytest tests/` beside a benchmark suite
    # whose pyproject sets save/report) must not overwrite the last run's files.
    if not state.records or not (s.save or s.junit or s.report or s.plot):
        return
    from pytest_cegi.core.run_file import build_run, write_run

    run = build_run(state.records, state.meter_method(), s.as_dict(), machine=state.machine)
    run["warnings"] = gate.run_warnings(state)
    if s.save is not None:
        write_run(s.save, run)
        state.written.append(Path(s.save))
    if s.junit is not None:
        junit.write_checks(s.junit, state.records)
        state.written.append(Path(s.junit))
    if s.report is not None:
        gate.write_markdown(state, run)
        state.written.append(Path(s.report))
    if s.plot is not None:
        state.written += gate.write_plot(state, run)
