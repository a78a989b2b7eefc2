"""Glue between the plugin and the CI gate: the baseline, per-test regression
checks, and the session-end Markdown report and plot."""

from __future__ import annotations

import warnings

import pytest

from pytest_cegi.core.record import Record
from pytest_cegi.core.units import parse_tolerance


def load_baseline(settings) -> dict | None:
    """The --cegi-baseline run, validated once per process (a bad file is a usage error)."""
    if settings.baseline is None:
        return None
    from pytest_cegi.judge.baseline import BaselineError, load_run

    try:
        return load_run(settings.baseline)
    except BaselineError as exc:
        raise pytest.UsageError(f"pytest-cegi: baseline {exc}") from None


def run_warnings(state) -> list[str]:
    """Things that would otherwise pass silently, for the terminal summary and the report:
    a budget entry that matches no test of this run, a country without grid data."""
    out = []
    if state.settings.carbon.warning:
        out.append(state.settings.carbon.warning)
    for entry in state.settings.budgets:
        if not any(entry.applies_to(r["nodeid"], r["task"]) for r in state.records):
            selector = " and ".join(
                f"{k} = {v!r}" for k, v in (("match", entry.match), ("task", entry.task)) if v is not None
            )
            out.append(
                f"{entry.source} ({selector}) matches no test in this run: its limits apply to "
                "nothing (a typo in the glob or task, or the tests were deselected)"
            )
    return out


def tolerances_for(settings):
    """record dict -> {quantity: (Tolerance, source) | None}: defaults < [tool.cegi] < the
    test's own budget entry; None where an entry lifted the rule with `false`. Each source
    is the true one ("default" where nothing was configured)."""

    def for_record(record: dict) -> dict:
        spec: dict = {
            q: (t, settings.max_regression_sources.get(q, "default")) for q, t in settings.max_regression.items()
        }
        own = record.get("max_regression_source") or "budget"
        for q, text in (record.get("max_regression") or {}).items():
            spec[q] = None if text is None else (parse_tolerance(text), f"{own} max_regression")
        return spec

    return for_record


def refresh_command(save, baseline) -> str:
    """The exact commands that make this run the baseline, through `update`'s checks."""
    target = _shown_path(baseline) if baseline else "BASELINE.json"
    if save:
        return f"pytest-cegi update {_shown_path(save)} {target}"
    return f"pytest --cegi-save RUN.json  # rerun the same tests, then:\npytest-cegi update RUN.json {target}"


def _shown_path(path) -> str:
    """A path as the user would type it from here: relative to the working directory when inside it."""
    import os
    from pathlib import Path

    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return os.fspath(p)


def regression_checks(state, record: Record) -> list:
    """Compare one finished test with its baseline twin; regressions become checks."""
    from pytest_cegi.judge.baseline import compare_one

    result = compare_one(
        state.baseline_run,
        record.to_dict(),
        tolerances_for(state.settings),
        machine=state.machine,
        meter=state.meter_method(),
        allow_energy_mismatch=state.settings.allow_energy_mismatch,
    )
    return result.checks()


def comparison(state, run: dict):
    if state.baseline_run is None:
        return None
    from pytest_cegi.judge.baseline import compare

    return compare(
        state.baseline_run,
        run,
        tolerances_for(state.settings),
        allow_energy_mismatch=state.settings.allow_energy_mismatch,
    )


def write_markdown(state, run: dict) -> None:
    from pytest_cegi.report import markdown

    s = state.settings
    refresh = refresh_command(s.save, s.baseline) if s.baseline else None
    text = markdown.render(
        run, comparison(state, run), baseline_label=str(s.baseline) if s.baseline else None, refresh_command=refresh
    )
    markdown.write_report(text, s.report)


def write_plot(state, run: dict) -> list:
    from pytest_cegi.report.plot import PlotUnavailable, plot_pareto

    try:
        return plot_pareto(run, state.settings.plot)
    except PlotUnavailable as exc:
        warnings.warn(f"pytest-cegi: no plot written: {exc}", stacklevel=1)
        return []
