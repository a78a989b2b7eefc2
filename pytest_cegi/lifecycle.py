"""What the plugin's hooks do over a test's and a session's life: the baseline, each
test's finish (budgets, regression checks, one verdict, whether it fails), and the
session's results and files. (The gate's rules live in judge/; this is their caller.)"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cegi.core.record import Check, Record
from pytest_cegi.core.settings import Settings
from pytest_cegi.judge import budgets
from pytest_cegi.measure.session import SessionState

if TYPE_CHECKING:
    from pytest_cegi.core.run import Run
    from pytest_cegi.judge.comparison import Baseline, Comparison
    from pytest_cegi.judge.regression import ToleranceSpec
    from pytest_cegi.measure.fixture import Cegi


def load_baseline(settings: Settings) -> Baseline | None:
    """The --cegi-baseline run, validated and typed once per process (a bad file is a
    usage error), with the tolerances every test is compared under."""
    if settings.baseline is None:
        return None
    from pytest_cegi.core.run import Run
    from pytest_cegi.core.run_file import BaselineError, load_run
    from pytest_cegi.judge.comparison import Baseline

    try:
        run = Run.from_dict(load_run(settings.baseline))
    except BaselineError as exc:
        raise pytest.UsageError(f"pytest-cegi: baseline {exc}") from None
    return Baseline(run, tolerances_for(settings), allow_energy_mismatch=settings.allow_energy_mismatch)


def run_warnings(state: SessionState) -> list[str]:
    """Things that would otherwise pass silently, for the terminal summary and the report:
    a budget entry that matches no test of this run, a country without grid data."""
    out = []
    if state.incomplete:
        out.append(f"{state.incomplete}; this run is partial and `pytest-cegi update` will not promote it")
    pacer = state.pacer
    if pacer is not None and (pacer.out_of_step or pacer.gave_up):
        stopped = f"; it stopped waiting after {pacer.timeout_s:g} s" if pacer.gave_up else ""
        out.append(
            f"duet ({pacer.role} side): {pacer.out_of_step} of {pacer.step} repeats were not measured "
            f"together with the other side (different tests, or the other side ended){stopped}"
        )
    if state.settings.carbon.warning:
        out.append(state.settings.carbon.warning)
    for entry in state.settings.budgets:
        if not any(entry.applies_to(r.nodeid, r.task) for r in state.records):
            selector = " and ".join(
                f"{k} = {v!r}" for k, v in (("match", entry.match), ("task", entry.task)) if v is not None
            )
            out.append(
                f"{entry.source} ({selector}) matches no test in this run: its limits apply to "
                "nothing (a typo in the glob or task, or the tests were deselected)"
            )
    return out


def tolerances_for(settings: Settings) -> Callable[[Record], ToleranceSpec]:
    """Record -> {quantity: (Tolerance, source) | None}: defaults < [tool.cegi] < the
    test's own budget entry, read through the same function `pytest-cegi compare` uses."""
    from pytest_cegi.judge.comparison import record_tolerances

    sources = settings.max_regression_sources  # every key has one ("default" at least)
    return record_tolerances({q: (t, sources[q]) for q, t in settings.max_regression.items()})


def finish_test(
    state: SessionState,
    record: Record,
    spec: budgets.Spec,
    *,
    baseline: Baseline | None,
    outcome: str,
    error: str | None,
    attempts: list[tuple[float, float]],
) -> None:
    """Judge one finished test: budget checks, then regression checks against the
    baseline, then its verdict, once every check is known.

    attempts: (energy, emissions) of this item's earlier attempts (pytest-rerunfailures);
    this attempt is appended, and the record carries their count and spend.
    """
    record.outcome = outcome
    # A declared shard that ran no reference of this task: the merge judges its CEGI.
    elsewhere = state.shard is not None and not record.reference and spec.task not in state.references_run
    budgets.finish(record, spec, state.reference_scores.get(spec.task), error=error, reference_elsewhere=elsewhere)
    record.device = state.device
    record.reruns = len(attempts)
    record.rerun_energy_kwh = sum(a[0] for a in attempts)
    record.rerun_emissions_kg = sum(a[1] for a in attempts)
    attempts.append((record.energy_kwh, record.emissions_kg))
    if baseline is not None:
        checks = regression_checks(state, baseline, record)
        if budgets.REFERENCE_ELSEWHERE in record.notes:  # no CEGI yet: compare judges the merged run's
            checks = [c for c in checks if c.limit != "regression:cegi"]
        record.checks += checks
    budgets.set_verdict(record, enforce=state.settings.enforce)
    if record.reference:
        state.references_run.add(spec.task)
        if record.score is not None:
            state.reference_scores[spec.task] = record.score


def fails_test(record: Record, settings: Settings) -> bool:
    """Whether the verdict fails the pytest test: only under --cegi-budget; an invalid
    measurement fails unless `invalid = "warn"`."""
    if not settings.enforce:
        return False
    return record.verdict == "fail" or (record.verdict == "invalid" and settings.invalid == "fail")


class SessionResults:
    """The session's run as every consumer takes it, built once on the process that
    reports: `data` (the run dict the file stores), `run` (typed, for the reports and the
    terminal) and, on first use, its `comparison` with the baseline."""

    def __init__(self, state: SessionState, baseline: Baseline | None) -> None:
        from pytest_cegi.core.run import Run
        from pytest_cegi.core.run_file import build_run

        method = state.meter_method()
        self.data = build_run(
            [r.to_dict() for r in state.records],
            method.to_dict() if method else None,
            state.settings.as_dict(),
            machine=state.machine,
        )
        self.data["warnings"] = run_warnings(state)
        if state.shard is not None:
            self.data["shard"] = state.shard.to_dict()
        if state.incomplete:
            self.data["incomplete"] = state.incomplete
        # The typed run from the typed records and meter; the dict is for the file alone.
        self.run: Run = Run.from_session(state.records, method, self.data)
        self._baseline = baseline

    @functools.cached_property
    def comparison(self) -> Comparison | None:
        """From each test's own comparison where this process made it (see Baseline)."""
        return None if self._baseline is None else self._baseline.compare_run(self.run)


def write_outputs(state: SessionState, session: SessionResults) -> None:
    """The session-end files: saved run, JUnit checks, Markdown report, plot."""
    s = state.settings
    # A session that measured nothing (e.g. `pytest tests/` beside a benchmark suite
    # whose pyproject sets save/report) must not overwrite the last run's files.
    if not state.records or not (s.save or s.junit or s.report or s.plot):
        return
    from pytest_cegi.core.run_file import write_run
    from pytest_cegi.report import junit

    if s.save is not None:
        write_run(s.save, session.data)
        state.written.append(Path(s.save))
    if s.junit is not None:
        junit.write_checks(s.junit, session.run)
        state.written.append(Path(s.junit))
    if s.report is not None:
        write_markdown(state, session)
        state.written.append(Path(s.report))
    if s.plot is not None:
        state.written += write_plot(state, session.run)


def regression_checks(state: SessionState, baseline: Baseline, record: Record) -> list[Check]:
    """Compare one finished test with its baseline twin (the baseline keeps the result
    for the session's comparison); regressions become checks."""
    from pytest_cegi.core.run import SavedRecord

    result = baseline.compare_test(SavedRecord.of(record), machine=state.machine, meter=state.meter_method())
    return result.checks()


def write_markdown(state: SessionState, session: SessionResults) -> None:
    from pytest_cegi.report import markdown, paths
    from pytest_cegi.report.paths import report_path

    s = state.settings
    refresh = paths.refresh_command(s.save, s.baseline) if s.baseline else None
    text = markdown.render(
        session.run,
        session.comparison,
        # The report becomes a PR comment: the baseline by its path in the project
        # (benchmarks/baseline.json), not the runner's absolute one.
        baseline_label=report_path(s.baseline, s.rootdir) if s.baseline else None,
        refresh_command=refresh,
    )
    markdown.write_report(text, s.report)


def write_plot(state: SessionState, run: Run) -> list[Path]:
    from pytest_cegi.report.plot import PlotUnavailable, plot_pareto

    assert state.settings.plot is not None  # called only with --cegi-plot
    try:
        return plot_pareto(run, state.settings.plot)
    except PlotUnavailable as exc:
        warnings.warn(f"pytest-cegi: no plot written: {exc}", stacklevel=1)
        return []


ERROR_CHARS = 600  # a raised message kept in the record: room for a library's fix


def error_text(call: pytest.CallInfo[None]) -> str | None:
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


def stopped_reason(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> str | None:
    """Why the session ended before running every selected test, or None."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    reason = session.shouldstop or session.shouldfail
    return str(reason) if reason else None


# -- a test item's spec, handle and report (for the plugin's hooks) ---------------------------


def spec_of(item: pytest.Item, settings: Settings) -> budgets.Spec:
    """The test's limits: its marker's, resolved against the budget entries."""
    from pytest_cegi.core.settings import SettingsError

    marker = item.get_closest_marker("cegi")
    try:
        kwargs = budgets.parse_marker(item.nodeid, marker.args, dict(marker.kwargs)) if marker else {}
    except SettingsError as exc:
        raise pytest.UsageError(f"pytest-cegi: {exc}") from None
    return budgets.resolve(item.nodeid, getattr(item, "originalname", item.name), kwargs, settings.budgets)


def new_handle(state: SessionState, item: pytest.Item, nodeid: str, spec: budgets.Spec) -> Cegi:
    """The `cegi` fixture's object for one test."""
    from pytest_cegi.measure import collection
    from pytest_cegi.measure.fixture import Cegi

    return Cegi(
        nodeid=nodeid,
        spec=spec,
        meter_factory=state.get_meter,
        work_model_factory=state.get_work_model,
        pacer=state.pacer,
        default_variant=collection.default_variant(item),
        variant_param=collection.variant_param(item),
        repeat=state.settings.repeat,
        cache_dir=state.settings.cache_dir,
    )


def unmeasured_record(item: pytest.Item, nodeid: str, spec: budgets.Spec) -> Record:
    """The record of a marked test that never asked for the fixture."""
    from pytest_cegi.measure import collection

    return Record(
        nodeid=nodeid,
        task=spec.task,
        variant=collection.default_variant(item),
        reference=bool(spec.reference),
    )


def put_on_report(item: pytest.Item, report: pytest.TestReport, record: Record, settings: Settings) -> None:
    """The finished record on pytest's report: for the xdist controller, as JUnit
    properties, and as the failure when a limit is violated."""
    from pytest_cegi.core.run import SavedRecord
    from pytest_cegi.report import junit

    report.cegi_record = record.to_dict()  # type: ignore[attr-defined]  # travels to the xdist controller
    # Replace, not add to, an earlier attempt's properties: one set per test.
    item.user_properties[:] = [p for p in item.user_properties if not str(p[0]).startswith("cegi.")]
    if not junit.forbids_properties(item.config):
        item.user_properties.extend(junit.properties(SavedRecord.of(record)))
    if report.passed and fails_test(record, settings):
        report.outcome = "failed"
        # One line per violated limit; the first shows in pytest's short summary.
        report.longrepr = "\n".join(budgets.failure_messages(record))


# -- the session's end (for the plugin's hooks) ----------------------------------------------


def write_summary(terminalreporter: Any, config: pytest.Config, state: SessionState, session: SessionResults) -> None:
    """The terminal summary, and the xunit2 note once per session (controller only)."""
    from pytest_cegi.report import junit, terminal
    from pytest_cegi.report.paths import report_path

    baseline = state.settings.baseline
    terminal.write_summary(
        terminalreporter,
        session.run,
        enforce=state.settings.enforce,
        written=state.written,
        comparison=session.comparison,
        # named as the Markdown report names it: relative to the rootdir
        baseline_label=report_path(baseline, state.settings.rootdir) if baseline else None,
    )
    if junit.forbids_properties(config):
        terminalreporter.write_line(junit.XUNIT2_NOTE)


def finish_session(session: pytest.Session, state: SessionState, run: SessionResults) -> None:
    """The session's files; one that cannot be written fails a session that passed."""
    try:
        write_outputs(state, run)
    except OSError as exc:
        session.config.get_terminal_writer().line(f"pytest-cegi: could not write results: {exc}", red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
