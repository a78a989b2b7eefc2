"""The end-of-session table in the terminal, from the session's typed run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pytest_cegi.core.formula import NOTHING_TRAINED
from pytest_cegi.core.meter_traits import traits_of
from pytest_cegi.core.record import Record
from pytest_cegi.core.run import Run, SavedRecord
from pytest_cegi.core.tolerances import single_sample_tolerance
from pytest_cegi.core.units import format_count, format_energy, format_gain, format_mass
from pytest_cegi.report.order import ordered

if TYPE_CHECKING:
    from pytest_cegi.judge.comparison import Comparison

COLUMNS = (
    "task",
    "variant",
    "score",
    "gain",
    "T_M",
    "energy",
    "CO2e",
    "modelled",
    "CEGI",
    "CO2e/gain",
    "limits",
    "verdict",
)
# How each limit is named in the limits column.
LIMIT_LABELS = {"floor": "floor", "ceiling": "ceiling", "max_emissions": "max CO2e", "max_energy": "max energy"}


def cegi_cell(r: Record) -> str:
    """The CEGI, or why there is none: n/a for the reference and for a model used as is."""
    if r.cegi is not None:
        return f"{r.cegi:.3g}"
    if r.reference:
        return "n/a (reference)"
    if r.cegi_applicable is False:
        return NOTHING_TRAINED
    return "undef" if r.score is not None else "-"


def carbon_per_gain_cell(r: Record) -> str:
    """E / dP, which needs no parameter count: shown for models used as is too."""
    if r.carbon_per_gain is None:
        return "-"
    return f"{format_mass(r.carbon_per_gain)}/{'pt' if r.gain_mode == 'points' else '%'}"


def limit_text(name: str, limit: Mapping[str, Any], *, with_source: bool = False) -> str:
    """ "floor 0.7", "max CO2e 60 mg", "ceiling lifted"; with the source when asked."""
    value = limit.get("value")
    if value is None:
        shown = f"{LIMIT_LABELS.get(name, name)} lifted"
    elif name == "max_emissions":
        shown = f"max CO2e {format_mass(value)}"
    elif name == "max_energy":
        shown = f"max energy {format_energy(value)}"
    else:
        shown = f"{LIMIT_LABELS.get(name, name)} {value:.3g}"
    return f"{shown} ({limit.get('source')})" if with_source else shown


def limits_cell(r: Record) -> str:
    exempt = r.reference or r.cegi_applicable is False  # no ceiling applies to these
    parts = [
        limit_text(k, v) + (" n/a" if k == "ceiling" and exempt and v.get("value") is not None else "")
        for k, v in r.limits.items()
    ]
    return ", ".join(parts) or "-"


def verdict_cell(r: Record) -> str:
    if not r.reruns:
        return r.verdict
    return f"{r.verdict} ({r.reruns} rerun{'s' * (r.reruns != 1)})"


def rows(records: Sequence[SavedRecord]) -> list[tuple[str, ...]]:
    """One row per test: the typed record, with the energy and CO2e its run saved."""
    out: list[tuple[str, ...]] = []
    for saved in records:
        r = saved.record
        est = "~" if saved.estimate else ""
        cached = " (cached ft)" if r.cached else ""
        score = "-" if r.score is None else f"{r.score:.4g}"
        if r.metric and r.score is not None:
            score += f" {r.metric}"
        gain = "ref" if r.reference else format_gain(r.gain_pct, r.gain_mode)
        out.append(
            (
                r.task,
                r.variant + cached,
                score,
                gain,
                format_count(r.trainable_params),
                est + format_energy(saved.energy_kwh) if r.measured else "-",
                est + format_mass(saved.emissions_kg) if r.measured else "-",
                "-" if r.modelled_energy_kwh is None else "~" + format_energy(r.modelled_energy_kwh),
                cegi_cell(r),
                carbon_per_gain_cell(r),
                limits_cell(r),
                verdict_cell(r),
            )
        )
    return out


def render(run: Run) -> list[str]:
    records = ordered(run.records)  # grouped by task whatever order xdist workers finished in
    table = [COLUMNS, *rows(records)]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r.estimate or r.record.modelled_energy_kwh is not None for r in records):
        lines.append("~ modelled estimate, not metered (see 'measured by' and 'modelled' below)")
    method = run.meter
    if method is not None:
        lines.append(f"measured by: {method.label()}")
        if method.basis == "attributed":
            lines.append(
                "energy and CO2e are attributed to each test's own process (the machine-level "
                "reading is saved beside them as machine_energy_kwh); budgets and the "
                "regression gate use the attributed figures"
            )
    modelled_by = sorted({saved.record.modelled_by for saved in records if saved.record.modelled_by})
    if modelled_by:
        lines.append(f"modelled: {'; '.join(modelled_by)} (compared across machines under one profile)")
    tested = [saved.record for saved in records]
    lines += kernel_path_lines(tested)
    lines += notes(tested)
    lines += measured_once_lines(run)
    if any(r.cegi_applicable is False and not r.reference for r in tested):
        lines.append(
            f"CEGI {NOTHING_TRAINED}: a model used as is (T_M = 0) owes no CEGI and no ceiling "
            "applies to it; CO2e/gain (E / dP) still compares it"
        )
    for r in tested:
        relevant = r.reference_score is not None or any(c.limit == "ceiling" for c in r.checks)
        if r.cegi is None and r.cegi_reason and not r.reference and relevant and r.cegi_applicable is not False:
            lines.append(f"CEGI undefined for {r.task}/{r.variant}: {r.cegi_reason}")
    for r in tested:
        if r.reruns:
            lines.append(
                f"reruns: {r.task}/{r.variant} ran {r.reruns} time(s) before its final "
                f"attempt; those attempts spent {format_energy(r.rerun_energy_kwh or 0.0)}, "
                f"{format_mass(r.rerun_emissions_kg or 0.0)} CO2e (not in its figures, "
                "which are the final attempt's)"
            )
    return lines


def kernel_path_lines(records: Sequence[Record]) -> list[str]:
    """Which bitsandbytes 4-bit kernels the quantized tests ran: their numerics differ."""
    paths: dict[str, int] = {}
    for r in records:
        path = r.variant_meta.get("kernel_path")
        if isinstance(path, str):
            paths[path] = paths.get(path, 0) + 1
    return [f"4-bit kernel path: {p} ({n} test{'s' * (n != 1)})" for p, n in sorted(paths.items())]


def notes(records: Sequence[Record]) -> list[str]:
    """Each distinct note once, with how many tests it concerns (e.g. "measured once")."""
    by_note: dict[str, list[str]] = {}
    for r in records:
        for note in r.notes:
            by_note.setdefault(note, []).append(f"{r.task}/{r.variant}")
    out = []
    for note, tests in by_note.items():
        who = (
            tests[0]
            if len(tests) == 1
            else f"{len(tests)} tests ({', '.join(tests[:3])}{', ...' if len(tests) > 3 else ''})"
        )
        out.append(f"note: {who}: {note}")
    return out


def measured_once_lines(run: Run) -> list[str]:
    """Once per session: which measured windows ran once, and what a baseline
    comparison of such a window can and cannot catch."""
    method = run.meter
    if method is None or traits_of(method.meter).deterministic:
        return []
    by_phase: dict[str, int] = {}
    for saved in run.records:
        for phase in sorted({w.phase for w in saved.record.counted_windows() if len(w.samples) < 2}):
            by_phase[phase] = by_phase.get(phase, 0) + 1
    if not by_phase:
        return []
    tolerance = single_sample_tolerance(run.settings)
    which = ", ".join(f"{phase} in {n} test{'s' * (n != 1)}" for phase, n in sorted(by_phase.items()))
    return [
        f"measured once: {which}. Against a baseline such a window catches only gross changes "
        f"(beyond the single-sample tolerance, {tolerance.as_ratio()}); smaller ones "
        "are left to counted cost and modelled energy, which see changes in the work but not "
        "in how fast it runs. Repeat what can be re-run: --cegi-repeat 5 with cegi.repeated() "
        "or cegi.measure_call."
    ]


class Writer(Protocol):
    """What the summary writes to: pytest's terminal reporter."""

    def write_sep(self, sep: str, title: str) -> Any: ...

    def write_line(self, line: str, **markup: bool) -> Any: ...


def write_summary(
    tr: Writer,
    run: Run,
    *,
    enforce: bool,
    written: Iterable[object] = (),
    comparison: Comparison | None = None,
    baseline_label: str | None = None,
) -> None:
    """The session's cegi section: the table, the baseline compared and how the two
    environments differ, each failed or invalid check, the run's warnings and the
    files written."""
    tr.write_sep("=", "cegi: quality and carbon")
    for line in render(run):
        tr.write_line(printable(line))
    if comparison is not None:
        for line in baseline_lines(comparison, baseline_label):
            tr.write_line(printable(line))
    lines = violation_lines(run)
    if lines:
        tr.write_sep("-", "cegi budget violations" if enforce else "cegi budget warnings")
        for line in lines:
            tr.write_line(printable(line))
    for warning in run.warnings:
        tr.write_line(printable(f"cegi: WARNING {warning}"), yellow=True)
    for path in written:
        tr.write_line(f"cegi: wrote {path}")


def baseline_lines(comparison: Comparison, label: str | None) -> list[str]:
    """The baseline compared, with its counts, then one line per environment difference."""
    c = comparison.counts()
    counted = ", ".join(f"{n} {status}" for status, n in c.items() if n)
    when = f", recorded {comparison.base_created}" if comparison.base_created else ""
    out = [f"cegi: compared with baseline {label or '(unnamed)'}{when}: {counted or 'no tests'}"]
    out += [f"cegi: baseline {m.describe()}" for m in comparison.mismatches]
    if comparison.refused:
        out.append(f"cegi: not compared across that difference: {', '.join(comparison.refused)}")
    return out


def violation_lines(run: Run) -> list[str]:
    """Every failed or invalid check of every test (floors, ceilings, emission limits,
    baseline regressions, a test that raised), one line each. Lines start with the
    node id, never with "FAILED"/"ERROR": scripts that count pytest's short-summary
    lines must not count a test twice."""
    out = []
    for saved in ordered(run.records):
        r = saved.record
        for check in r.checks:
            if check.status in ("fail", "warn", "invalid"):
                out.append(f"{r.nodeid} [{r.verdict}]: {check.message}")
    return out


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(line: str) -> str:
    """Names come from test code and budget files: no escape sequence of theirs may
    recolour, erase or rewrite CI log lines (a fake "passed")."""
    return _CONTROL.sub("?", line)
