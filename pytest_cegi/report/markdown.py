"""The per-PR Markdown report (`--cegi-report FILE.md`, `pytest-cegi report`).

It is written for a GitHub comment: a headline, what failed and why (with each
limit's source), per-task tables with deltas against the baseline (regressions
first, long tables folded into <details>), a Mermaid chart, the deployment
projection, and how the figures were measured. The whole text stays under
GitHub's 65,536-character comment limit: when it would not, tables are cut
down step by step and say how many rows they left out.
"""

from __future__ import annotations

import os
from collections import defaultdict

from pytest_cegi.core.formula import NOTHING_TRAINED
from pytest_cegi.core.projection import Projection
from pytest_cegi.core.quantities import QUANTITIES
from pytest_cegi.core.record import Record
from pytest_cegi.core.run import Run, SavedRecord
from pytest_cegi.core.run_file import atomic_write_text
from pytest_cegi.core.units import format_count, format_gain, format_mass
from pytest_cegi.judge.comparison import STATUS_ORDER, Comparison, RecordComparison
from pytest_cegi.judge.regression import QuantityDelta, format_delta, format_value
from pytest_cegi.report import escape, md_sections
from pytest_cegi.report.md_table import ReportRow, fold, number, table
from pytest_cegi.report.order import natural_key
from pytest_cegi.report.terminal import limit_text

MARKER = "<!-- pytest-cegi report -->"  # lets CI find and update its own PR comment
GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_MAX_CHARS = 60_000  # headroom for whatever CI wraps around it
# (row cap, cell length) tried in turn until the report fits. The violation table is
# never cut by rows (every violation is listed); its cells shrink instead.
_ROW_CAPS = ((None, escape.CELL_CHARS), (100, escape.CELL_CHARS), (30, 120), (10, 80), (3, 40))
_ICONS = {
    "regression": "🔴 regression",
    "improvement": "🟢 improvement",
    "unchanged": "⚪ unchanged",
    "not compared": "❔ not compared",
    "added": "➕ added",
    "removed": "➖ removed",
    "pass": "✅ pass",
    "fail": "❌ fail",
    "warn": "⚠️ warn",
    "invalid": "⛔ invalid",
    "error": "💥 error",
}
_VERDICT_ORDER = {"error": 0, "invalid": 1, "fail": 2, "warn": 3, "pass": 4}
_STATUS_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}


def render(
    run: Run,
    comparison: Comparison | None = None,
    *,
    projections: list[Projection] | None = None,
    baseline_label: str | None = None,
    refresh_command: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> str:
    """The report for `run`, with deltas when a comparison with a baseline is given.

    projections: default, computed from the deployment declared in the run.
    refresh_command: shown with improvements, e.g. "pytest-cegi update cegi-out/run.json
    benchmarks/baseline.json".
    """
    if projections is None:
        projections = list(run.projections)
    text = ""
    for cap, cell_chars in _ROW_CAPS:
        text = _Report(run, comparison, projections, baseline_label, refresh_command, cap, cell_chars).render()
        if len(text) <= max_chars:
            return text
    # Still too long: drop the sections after the violations rather than cut into them.
    short = _Report(run, comparison, projections, baseline_label, refresh_command, *_ROW_CAPS[-1])
    short.minimal = True
    text = short.render()
    if len(text) <= max_chars:
        return text
    note = "\n\n… report cut to fit a GitHub comment; the full figures are in the saved run JSON.\n"
    return text[: max_chars - len(note)] + note


def write_report(text: str, path: str | os.PathLike | None) -> None:
    """Write the report (atomically) and append it to $GITHUB_STEP_SUMMARY when set."""
    if path:
        atomic_write_text(path, text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")


class _Report:
    def __init__(
        self, run, comparison, projections, baseline_label, refresh_command, cap, cell_chars: int = escape.CELL_CHARS
    ):
        self.run, self.cmp, self.projections = run, comparison, projections
        self.baseline_label, self.refresh, self.cap = baseline_label, refresh_command, cap
        self.cell_chars = cell_chars
        self.minimal = False  # True: only headline, alerts, regressions, violations, method
        self.records: tuple[SavedRecord, ...] = run.records
        if comparison:
            self.rows = [ReportRow(r.task, r.variant, r.head, r.base, r.status, r.deltas) for r in comparison.records]
        else:
            self.rows = [ReportRow(r.task, r.variant, r, None, r.record.verdict) for r in self.records]

    def render(self) -> str:
        parts = [MARKER, self.headline(), self.alerts(), self.regressions(), self.violations()]
        if self.minimal:
            parts.append(
                "_Per-task tables, chart and projection left out to fit a GitHub comment; "
                "they are in the saved run JSON (`pytest-cegi report RUN.json`)._"
            )
        else:
            parts += [self.improvements(), self.tasks(), self.chart(), self.deployment()]
        parts.append(self.method())
        return "\n\n".join(p for p in parts if p).rstrip() + "\n"

    # -- headline ------------------------------------------------------------
    def headline(self) -> str:
        tasks = len({r.task for r in self.records})
        scope = f"{len(self.records)} tests in {tasks} task{'s' * (tasks != 1)}"
        failed = len(self.failed_checks())
        invalid = sum(r.record.verdict == "invalid" for r in self.records)
        errored = sum(r.record.verdict == "error" for r in self.records)
        extra = [f"{failed} budget violation{'s' * (failed != 1)}"] if failed else []
        extra += [f"{invalid} invalid"] if invalid else []
        extra += [f"{errored} errored"] if errored else []
        if self.cmp is None:
            title = "## pytest-cegi: " + (", ".join(extra) if extra else "all budgets met")
            return f"{title}\n\n{scope}; no baseline to compare with."
        c = self.cmp.counts()
        words = [f"**{c['error']} errored or lost a figure**"] if c["error"] else []
        words += [
            f"**{c['regression']} regression{'s' * (c['regression'] != 1)}**",
            f"{c['improvement']} improvement{'s' * (c['improvement'] != 1)}",
            f"{c['unchanged']} unchanged",
        ]
        words += [f"{c[s]} {s}" for s in ("added", "removed", "not compared") if c[s]]
        base = f" {escape.code(self.baseline_label)}" if self.baseline_label else ""
        when = f" ({escape.inline(self.cmp.base_created)})" if self.cmp.base_created else ""
        title = "## pytest-cegi: " + ", ".join(words + extra)
        return f"{title}\n\n{scope}, compared with the baseline{base}{when}."

    def alerts(self) -> str:
        out = []
        warnings = self.run.warnings
        if warnings:  # what would otherwise pass silently: unmatched budget entries, ...
            out.append("> [!WARNING]\n" + "\n".join(f"> - {escape.inline(w)}" for w in warnings))
        if self.cmp and self.cmp.mismatches:
            lines = [f"> - {escape.inline(m.describe())}" for m in self.cmp.mismatches]
            if self.cmp.refused:
                tail = (
                    f"> Not compared: {', '.join(self.cmp.refused)} (meaningless across these "
                    f"differences; opt in with `--cegi-allow-energy-mismatch`)."
                )
            elif any(m.refuses for m in self.cmp.mismatches):
                tail = "> Compared anyway, as asked: read those deltas with care."
            else:  # notes only (software versions, an older file's unknown CPU identity)
                tail = "> Every quantity is compared; the notes say what the differences can move."
            out.append(
                "> [!WARNING]\n> The baseline comes from a different environment:\n" + "\n".join(lines) + "\n>\n" + tail
            )
        if self.cmp and self.cmp.unrepeated:
            out.append(
                "> [!NOTE]\n> Some energy comparisons rest on **fewer than 3 repeats a side**: they are "
                "gated against **gross changes only** (the single-sample tolerance, 2x by default), "
                "since measured energy varies between identical runs on a busy machine. To gate finer "
                "changes, use `--cegi-repeat 5` in both runs, with `cegi.repeated()` or `cegi.measure_call`."
            )
        if any(r.estimate for r in self.records):
            out.append("> [!NOTE]\n> Figures marked ≈ are **modelled estimates**, not metered energy.")
        return "\n\n".join(out)

    # -- what failed -----------------------------------------------------------
    def regressions(self) -> str:
        if not self.cmp:
            return ""
        rows = []
        for r in self.cmp.regressions():
            for d in r.deltas.values():
                if d.status == "regression":
                    evidence = d.test.describe() if d.test else "single sample" if d.unrepeated else "deterministic"
                    change = format_delta(d.quantity, d.base, d.head)
                    if d.lowest is not None:  # the figure the rule judged, beside the mean's
                        change += f" ({_lowest_change(d.quantity, d)})"
                    rows.append(
                        [
                            self.test_name(r),
                            d.quantity,
                            format_value(d.quantity, d.base),
                            format_value(d.quantity, d.head),
                            change,
                            f"{d.rule.tolerance.text} ({d.rule.source})",
                            evidence,
                        ]
                    )
        if not rows:
            return ""
        head = ["Test", "Quantity", "Baseline", "This run", "Change", "Allowed (source)", "Evidence"]
        text = "### Regressions\n\n" + table(head, rows, self.cap, "regressions", self.cell_chars)
        changed = [r for r in self.cmp.regressions() if r.configuration]
        if changed:
            lines = [f"- {self.test_name(r)}: {escape.inline('; '.join(r.configuration))}" for r in changed]
            text += "\n\nConfiguration changed (what the counted work ran under):\n\n" + "\n".join(lines)
        return text

    def failed_checks(self) -> list:
        out = []
        for r in self.records:
            for c in r.record.checks:
                # Regression checks the plugin stored are shown under Regressions.
                if self.cmp and c.limit.startswith("regression:"):
                    continue
                if c.status in ("fail", "invalid"):
                    out.append((r, c))
        return out

    def violations(self) -> str:
        rows = [
            [
                f"{r.task} / {r.variant}",
                c.limit,
                number(c.value),
                number(c.threshold),
                c.source,
                c.message or c.status,
            ]
            for r, c in self.failed_checks()
        ]
        if not rows:
            return ""
        head = ["Test", "Limit", "Value", "Threshold", "Source", "Message"]
        return "### Budget violations\n\n" + table(head, rows, None, "violations", self.cell_chars)

    def improvements(self) -> str:
        if not self.cmp or not self.cmp.improvements():
            return ""
        rows = [
            [
                self.test_name(r),
                d.quantity,
                format_value(d.quantity, d.base),
                format_value(d.quantity, d.head),
                format_delta(d.quantity, d.base, d.head),
                d.test.describe() if d.test else "tolerance alone",
            ]
            for r in self.cmp.improvements()
            for d in r.deltas.values()
            if d.status == "improvement"
        ]
        # Through `update`, whose checks refuse invalid runs; never a bare --cegi-save over the baseline.
        refresh = self.refresh or (
            f"pytest --cegi-save RUN.json\npytest-cegi update RUN.json {self.baseline_label or 'BASELINE.json'}"
        )
        head = ["Test", "Quantity", "Baseline", "This run", "Change", "Evidence"]
        return (
            "### Improvements\n\n"
            + table(head, rows, self.cap, "improvements", self.cell_chars)
            + "\n\nIf these are intended, refresh the baseline so later PRs are held to them:\n\n"
            + escape.fenced(refresh, "sh")
        )

    # -- per-task tables -------------------------------------------------------
    def tasks(self) -> str:
        by_task: dict[str, list[ReportRow]] = defaultdict(list)
        for row in self.rows:
            by_task[row.task].append(row)
        out = ["### Results by task"]
        for task in sorted(by_task):
            entries = by_task[task]
            # With a baseline, the comparison's status order; without, failing tests first.
            entries.sort(key=lambda e: (self.rank(e), natural_key(e.variant)))
            rows = [self.task_row(e) for e in entries]
            sample = entries[0].rec.record
            metric = sample.metric or "score"
            better = "higher" if sample.higher_is_better else "lower"
            header = ["Variant", "Status"]
            for q in QUANTITIES:  # a column per quantity; the gain and T_M after the score
                header += [q.header, "Gain", "T_M"] if q.judged == "score" else [q.header]
            header += ["CO2e per gain", "Limits (source)"]
            bad = sum(1 for e in entries if e.status in ("regression", "fail", "invalid"))
            title = f"#### {escape.inline(task)}"
            summary = f"{escape.html(task)}: {len(rows)} variants" + (f", {bad} failing" if bad else "")
            unit = "point" if sample.gain_mode == "points" else "% gain"
            body = (
                f"Metric: {escape.inline(metric)} ({better} is better); CEGI in kg CO2e per "
                f"({unit} x M trained params), "
                f"lower is better; n/a for the reference and for models used as is (nothing trained). "
                f"CO2e per gain needs no parameter count.\n\n"
                + table(header, rows, self.cap, "variants", self.cell_chars)
            )
            out.append(f"{title}\n\n" + fold(summary, body, len(rows)))
        return "\n\n".join(out)

    def rank(self, row: ReportRow) -> int:
        if self.cmp:
            return _STATUS_RANK.get(row.status or "", 9)
        return _VERDICT_ORDER.get(row.status or "", 0)

    def task_row(self, entry: ReportRow) -> list[str]:
        rec = entry.rec
        approx = "≈ " if rec.estimate else ""
        cells: dict[str, str] = {}
        for quantity in QUANTITIES:
            q = quantity.name
            d = entry.deltas.get(q)
            if d is None:  # no baseline, or added or removed: one side only
                value = format_value(q, rec.figure(q))
                if q == "cegi" and not self.cmp:
                    value = _cegi_value(rec, value)
                cells[q] = f"was {value}" if entry.status == "removed" and value != "-" else value
                continue
            shown = format_value(q, d.head)
            if q == "cegi":
                shown = _cegi_value(entry.head, shown)
            change = format_delta(q, d.base, d.head)
            mark = " 🔴" if d.status == "regression" else " 🟢" if d.status == "improvement" else ""
            if d.status == "not compared" and d.head is not None:
                # A lifted rule (`false`) still shows the change, so a reviewer sees it;
                # a refused comparison (other hardware, meter) has no meaningful one.
                lifted = d.rule is None and d.base is not None and bool(change)
                change = f"{change}, not gated" if lifted else "not compared"
            elif d.lowest is not None:
                # Judged on the lowest repeats: say so, or a mean of "+48%" beside
                # "within 10%" reads as a bug.
                if not (change == "±0" and d.lowest[0] == d.lowest[1]):  # "±0" alone says nothing moved
                    change = "; ".join(part for part in (change, _lowest_change(q, d) + mark) if part)
                    mark = ""
            elif d.status == "unchanged" and d.rule is not None and change and change != "±0":
                # A delta inside its tolerance says so, or "+264.9%" beside "unchanged" reads as a bug.
                beyond = d.test is not None and "within noise" in d.reason
                change += (
                    f", beyond {d.rule.tolerance.text} but within noise"
                    if beyond
                    else f", within {d.rule.tolerance.text}" + (" (single sample)" if d.unrepeated else "")
                )
            cells[q] = shown + (f" ({change}{mark})" if change else "")
        # scores and counted figures are not modelled: ≈ marks the measured cells of an
        # estimate only, and always the figures modelled from counted work
        basis = rec.record.modelled_basis or ""
        # some windows (fine-tuning) not counted: say which the modelled figure covers
        covered = f" ({escape.cell(basis.split(';', 1)[0])} only)" if ";" in basis else ""
        row: list[str] = []
        for quantity in QUANTITIES:
            cell = cells[quantity.name]
            if quantity.judged == "modelled":
                cell = _approx("≈ ", cell + covered)
            elif quantity.judged == "measured":
                cell = _approx(approx, cell)
            row.append(cell)
            if quantity.judged == "score":
                row += _gain_and_params(rec.record)
        extras = _extras(rec.record)
        if entry.status == "removed" and extras[0] != "-":
            extras[0] = "was " + extras[0]
        icon = _ICONS.get(entry.status or "", entry.status or "None")
        return [_variant(rec.record), _status(rec.record, icon)] + row + extras

    def chart(self) -> str:
        return md_sections.emissions_chart(self.rows, compared=bool(self.cmp), cap=self.cap)

    def deployment(self) -> str:
        return md_sections.deployment(self.projections, self.cap, self.cell_chars)

    def method(self) -> str:
        return md_sections.method(self.run)

    def test_name(self, r: RecordComparison) -> str:
        return f"{r.task} / {r.variant}"


def _gain_and_params(rec: Record) -> list:
    """The gain over the reference (points for gain="points") and T_M, CEGI's other two factors."""
    gain = "ref" if rec.reference else format_gain(rec.gain_pct, rec.gain_mode)
    return [gain, format_count(rec.trainable_params)]


def _lowest_change(quantity: str, d: QuantityDelta) -> str:
    """ "lowest +2.0%, within 10%": the change of the lowest repeats, which a repeated
    measured quantity is judged on."""
    assert d.lowest is not None
    text = f"{d.phase + ' ' if d.phase else ''}lowest {format_delta(quantity, *d.lowest) or '±0'}"
    if d.status != "unchanged" or d.rule is None:
        return text
    noise = d.test is not None and not d.test.significant
    return f"{text}, " + (
        f"beyond {d.rule.tolerance.text} but within noise" if noise else f"within {d.rule.tolerance.text}"
    )


def _approx(mark: str, text: str) -> str:
    """The ≈ of a modelled figure; never on "-" or on an n/a CEGI (there is no figure)."""
    return text if text == "-" or text.startswith("n/a") else mark + text


def _cegi_value(saved: SavedRecord | None, shown: str) -> str:
    """The CEGI cell: the number, or n/a with why (reference, nothing trained)."""
    if saved is None or saved.record.cegi is not None or shown != "-":
        return shown
    if saved.record.reference:
        return "n/a (reference)"
    return NOTHING_TRAINED if saved.record.cegi_applicable is False else shown


def _status(rec: Record, icon: str) -> str:
    """The verdict, with pytest-rerunfailures' reruns and what they spent beside it."""
    reruns = rec.reruns or 0
    if not reruns:
        return icon
    return (
        f"{icon} after {reruns} rerun{'s' * (reruns != 1)} (+{format_mass(rec.rerun_emissions_kg or 0.0)} not counted)"
    )


def _extras(rec: Record) -> list:
    """CO2e per gain and the test's limits, each with the source that set it."""
    cpg = rec.carbon_per_gain
    per = "pt" if rec.gain_mode == "points" else "%"
    why = "reference" if rec.reference else "nothing trained" if rec.cegi_applicable is False else None
    parts = []
    for name, limit in (rec.limits or {}).items():
        text = limit_text(name, limit)
        if name == "ceiling" and why and limit.get("value") is not None:
            text += f", n/a: {why}"  # set, but a ceiling never applies here
        parts.append(f"{text} ({limit.get('source')})")
    return ["-" if cpg is None else f"{format_mass(cpg)}/{per}", "; ".join(parts) or "-"]


def _variant(rec: Record) -> str:
    return rec.variant + (" (reference)" if rec.reference else "")


__all__ = ["render", "write_report", "MARKER", "GITHUB_COMMENT_LIMIT"]
