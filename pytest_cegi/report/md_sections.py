"""The report's closing sections, each a function of the run: the emissions chart
(Mermaid), the deployment projection, and how the figures were measured."""

from __future__ import annotations

from collections import defaultdict

from pytest_cegi.core.meter_traits import traits_of
from pytest_cegi.core.projection import Projection
from pytest_cegi.core.run import Run
from pytest_cegi.core.tolerances import single_sample_tolerance
from pytest_cegi.core.units import display_mass_unit, format_mass
from pytest_cegi.core.window import measurement_kind
from pytest_cegi.judge.stats import ALPHA
from pytest_cegi.report import escape
from pytest_cegi.report.md_table import ReportRow, fold, number, short, table, tonnes
from pytest_cegi.report.order import natural_key


def emissions_chart(rows: list[ReportRow], compared: bool, cap: int | None) -> str:
    """Emissions per variant as Mermaid bar charts (render in PR comments): one chart
    per task, every test of it in the table's order; what a chart cannot show (no
    measured emissions, no baseline twin) is named under it."""
    by_task: dict = defaultdict(list)
    for r in rows:
        status = r.status if compared else ""
        base = r.base.emissions_kg if r.base else None
        head, reference = (r.head.emissions_kg, r.head.record.reference) if r.head else (None, False)
        by_task[r.task].append((r.variant, head, base, status, reference))
    charts, left_out, shown = [], [], 0
    for task in sorted(by_task):
        entries = sorted(by_task[task], key=lambda e: (not e[4], natural_key(e[0])))
        charted = [e for e in entries if e[1] and (not compared or e[2])]
        missing: dict = defaultdict(list)  # why -> variants of this task
        for variant, head, base, status, _ in entries:
            if not head:
                missing["removed" if status == "removed" else "no emissions measured"].append(variant)
            elif compared and not base:
                missing["added" if status == "added" else "no baseline emissions"].append(variant)
        for why, names in missing.items():  # a whole removed task is one entry, not eight
            left_out.append(
                f"all {len(names)} tests of {task} ({why})"
                if len(names) == len(entries) > 3
                else ", ".join(f"{task}/{v}" for v in names) + f" ({why})"
            )
        if cap is not None and len(charted) > cap:  # cut to fit a comment: say so
            left_out.append(f"{len(charted) - cap} more of {task} (report cut to fit a GitHub comment)")
            charted = charted[:cap]
        if not charted:
            continue
        shown += len(charted)
        top = max(max(e[1], e[2] or 0) for e in charted)
        unit, factor = display_mass_unit(top)
        labels = ", ".join('"' + short(e[0]) + '"' for e in charted)
        lines = [
            "```mermaid",
            "xychart-beta",
            f'    title "{short(task, 40)}: emissions per test ({unit} CO2e)'
            + (', bars: this run, line: baseline"' if compared else '"'),
            f"    x-axis [{labels}]",
            f'    y-axis "{unit} CO2e"',
            f"    bar [{', '.join(f'{e[1] / factor:.4g}' for e in charted)}]",
        ]
        if compared:
            lines.append(f"    line [{', '.join(f'{e[2] / factor:.4g}' for e in charted)}]")
        lines.append("```")
        charts.append("\n".join(lines))
    if not charts:
        return ""
    note = f"_Charts {shown} tests: every test with measured emissions" + (" in both runs" if compared else "")
    note += (", up to the cut below" if cap is not None and left_out else "") + "._"
    if left_out:
        note += f" _Not charted: {escape.inline(', '.join(left_out), 4 * escape.LINE_CHARS)}._"
    return "### Emissions chart\n\n" + "\n\n".join(charts) + f"\n\n{note}"


def deployment(projections: list[Projection], cap: int | None, cell_chars: int) -> str:
    if not projections:
        return ""
    rows = []
    ordered = sorted(projections, key=lambda p: (p.task, p.annual_kg is None, p.annual_kg or 0, p.variant))
    for p in ordered:
        approx = "≈ " if p.estimate else ""
        per_req = approx + format_mass(p.per_request_kg) if p.per_request_kg is not None else "-"
        annual = approx + tonnes(p.annual_kg) if p.annual_kg is not None else "-"
        daily = approx + tonnes(p.daily_kg) if p.daily_kg is not None else "-"
        rows.append([f"{p.task} / {p.variant}", per_req, p.deployment.text, daily, annual, p.reason or ""])
    head = ["Test", "Per request", "Deployment", "CO2e per day", "CO2e per year", "Note"]
    body = table(head, rows, cap, "projections", cell_chars)
    return (
        "### Deployment projection\n\nCO2e per day = inference emissions per request x requests per "
        "second x 86,400 s x deployed units; per year = per day x 365.\n\n"
        + fold(f"{len(rows)} projections", body, len(rows))
    )


def method(run: Run) -> str:
    meter = run.meter
    lines = ["### How figures were measured", ""]
    if meter is not None:
        kind = measurement_kind(meter.estimate) + (" estimate" if meter.estimate else "")
        lines.append(
            f"- Energy: **{kind}** with {escape.code(meter.meter)} "
            f"(CPU: {escape.inline(meter.cpu)}; GPU: {escape.inline(meter.gpu)})."
        )
        lines.append(
            f"- Carbon factor: {number(meter.carbon_factor_g_per_kwh)} g CO2e/kWh "
            f"({escape.inline(meter.carbon_factor_source)})."
        )
    else:
        lines.append("- No measured windows in this run.")
    modelled_by = sorted({r.record.modelled_by for r in run.records if r.record.modelled_by})
    if modelled_by:
        lines.append(
            f"- Modelled energy and emissions (≈): {escape.inline('; '.join(modelled_by))}; the same "
            f"work gives the same figure on every machine, so they are compared across machines "
            f"under one profile, by tolerance alone."
        )
    machine = run.machine
    if machine.get("cpu"):
        gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
        lines.append(
            f"- Machine: {escape.inline(machine['cpu'])} ({machine.get('cpu_count')} CPUs); {escape.inline(gpus)}."
        )
    if run.shards:
        lines.append(
            f"- Merged from {len(run.shards)} shards ({escape.inline(', '.join(run.shards))}) by "
            f"`pytest-cegi merge`; each record keeps its shard's machine and meter."
        )
    repeat = run.settings.get("repeat")
    single = f"the single-sample tolerance ({single_sample_tolerance(run.settings).as_ratio()})"
    if repeat and repeat > 1:
        lines.append(
            f"- Inference windows repeated {repeat} times; a change in measured emissions, energy "
            f"or CEGI counts as a regression only if the lowest repeat exceeds the baseline's "
            f"lowest by more than its tolerance and a one-sided Mann-Whitney U test on the "
            f"repeats gives p ≤ {ALPHA}; windows measured once (such as fine-tuning) are gated "
            f"against gross changes only, beyond {single}."
        )
    elif run.meter is not None and traits_of(run.meter.meter).deterministic:
        lines.append("- Windows measured once: counted figures, judged by tolerance alone.")
    else:
        lines.append(
            "- Windows measured once (no `--cegi-repeat`): measured emissions, energy and CEGI "
            f"are gated against gross changes only, beyond {single}; scores and cost are "
            "judged by tolerance alone."
        )
    lines.append(
        "- Scores are computed on fixed data with deterministic decoding; score changes are judged by tolerance alone."
    )
    return "\n".join(lines)
