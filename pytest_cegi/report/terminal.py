"""The end-of-session table in the terminal."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pytest_cegi.core.formula import NOTHING_TRAINED
from pytest_cegi.core.units import format_count, format_energy, format_gain, format_mass
from pytest_cegi.core.window import Method
from pytest_cegi.report.order import ordered

COLUMNS = ("task", "variant", "score", "gain", "T_M", "energy", "CO2e", "CEGI", "CO2e/gain", "limits", "verdict")
# How each limit is named in the limits column.
LIMIT_LABELS = {"floor": "floor", "ceiling": "ceiling", "max_emissions": "max CO2e", "max_energy": "max energy"}


def cegi_cell(r: dict) -> str:
    """The CEGI, or why there is none: n/a for the reference and for a model used as is."""
    if r.get("cegi") is not None:
        return f"{r['cegi']:.3g}"
    if r.get("reference"):
        return "n/a (reference)"
    if r.get("cegi_applicable") is False:
        return NOTHING_TRAINED
    return "undef" if r.get("score") is not None else "-"


def carbon_per_gain_cell(r: dict) -> str:
    """E / dP, which needs no parameter count: shown for models used as is too."""
    value = r.get("carbon_per_gain")
    if value is None:
        return "-"
    return f"{format_mass(value)}/{'pt' if r.get('gain_mode') == 'points' else '%'}"


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


def limits_cell(r: dict) -> str:
    exempt = r.get("reference") or r.get("cegi_applicable") is False  # no ceiling applies to these
    parts = [
        limit_text(k, v) + (" n/a" if k == "ceiling" and exempt and v.get("value") is not None else "")
        for k, v in (r.get("limits") or {}).items()
    ]
    return ", ".join(parts) or "-"


def verdict_cell(r: dict) -> str:
    reruns = r.get("reruns") or 0
    if not reruns:
        return r["verdict"]
    return f"{r['verdict']} ({reruns} rerun{'s' * (reruns != 1)})"


def rows(records: list[dict]) -> list[tuple]:
    out = []
    for r in records:
        est = "~" if r.get("estimate") else ""
        cached = " (cached ft)" if r.get("cached") else ""
        score = "-" if r.get("score") is None else f"{r['score']:.4g}"
        if r.get("metric") and r.get("score") is not None:
            score += f" {r['metric']}"
        gain = "ref" if r.get("reference") else format_gain(r.get("gain_pct"), r.get("gain_mode", "relative"))
        measured = bool(r.get("windows"))
        out.append(
            (
                r["task"],
                r["variant"] + cached,
                score,
                gain,
                format_count(r.get("trainable_params")),
                est + format_energy(r["energy_kwh"]) if measured else "-",
                est + format_mass(r["emissions_kg"]) if measured else "-",
                cegi_cell(r),
                carbon_per_gain_cell(r),
                limits_cell(r),
                verdict_cell(r),
            )
        )
    return out


def render(records: list[dict], method: dict | None) -> list[str]:
    records = ordered(records)  # grouped by task whatever order xdist workers finished in
    table = [COLUMNS, *rows(records)]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r.get("estimate") for r in records):
        lines.append("~ modelled estimate, not metered (see 'measured by' below)")
    if method:
        lines.append(f"measured by: {Method(**method).label()}")
        if method.get("basis") == "attributed":
            lines.append(
                "energy and CO2e are attributed to each test's own process (the machine-level "
                "reading is saved beside them as machine_energy_kwh); budgets and the "
                "regression gate use the attributed figures"
            )
    lines += notes(records)
    if any(r.get("cegi_applicable") is False and not r.get("reference") for r in records):
        lines.append(
            f"CEGI {NOTHING_TRAINED}: a model used as is (T_M = 0) owes no CEGI and no ceiling "
            "applies to it; CO2e/gain (E / dP) still compares it"
        )
    for r in records:
        relevant = r.get("reference_score") is not None or any(c["limit"] == "ceiling" for c in r.get("checks", []))
        if (
            r.get("cegi") is None
            and r.get("cegi_reason")
            and not r.get("reference")
            and relevant
            and r.get("cegi_applicable") is not False
        ):
            lines.append(f"CEGI undefined for {r['task']}/{r['variant']}: {r['cegi_reason']}")
    for r in records:
        if r.get("reruns"):
            lines.append(
                f"reruns: {r['task']}/{r['variant']} ran {r['reruns']} time(s) before its final "
                f"attempt; those attempts spent {format_energy(r.get('rerun_energy_kwh') or 0.0)}, "
                f"{format_mass(r.get('rerun_emissions_kg') or 0.0)} CO2e (not in its figures, "
                "which are the final attempt's)"
            )
    return lines


def notes(records: list[dict]) -> list[str]:
    """Each distinct note once, with how many tests it concerns (e.g. "measured once")."""
    by_note: dict[str, list[str]] = {}
    for r in records:
        for note in r.get("notes") or []:
            by_note.setdefault(note, []).append(f"{r['task']}/{r['variant']}")
    out = []
    for note, tests in by_note.items():
        who = (
            tests[0]
            if len(tests) == 1
            else f"{len(tests)} tests ({', '.join(tests[:3])}{', ...' if len(tests) > 3 else ''})"
        )
        out.append(f"note: {who}: {note}")
    return out


class Writer(Protocol):
    """What the summary writes to: pytest's terminal reporter."""

    def write_sep(self, sep: str, title: str) -> Any: ...

    def write_line(self, line: str, **markup: bool) -> Any: ...


def write_summary(
    tr: Writer,
    records: list[dict],
    method: dict | None,
    *,
    enforce: bool,
    warnings: Iterable[str] = (),
    written: Iterable[object] = (),
) -> None:
    """The session's cegi section: the table, each failed or invalid check, the run's
    warnings and the files written."""
    tr.write_sep("=", "cegi: quality and carbon")
    for line in render(records, method):
        tr.write_line(printable(line))
    warned = [r for r in records if r["verdict"] in ("warn", "invalid", "error")]
    if warned:
        tr.write_sep("-", "cegi budget violations" if enforce else "cegi budget warnings")
        for r in warned:
            for check in r["checks"]:
                if check["status"] in ("fail", "invalid"):
                    tr.write_line(printable(f"{r['verdict'].upper()} {r['nodeid']}: {check['message']}"))
    for warning in warnings:
        tr.write_line(printable(f"cegi: WARNING {warning}"), yellow=True)
    for path in written:
        tr.write_line(f"cegi: wrote {path}")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(line: str) -> str:
    """Names come from test code and budget files: no escape sequence of theirs may
    recolour, erase or rewrite CI log lines (a fake "passed")."""
    return _CONTROL.sub("?", line)
