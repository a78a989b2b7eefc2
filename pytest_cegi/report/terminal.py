"""The end-of-session table in the terminal."""
from __future__ import annotations

from pytest_cegi.meters.base import Method
from pytest_cegi.units import format_count, format_energy, format_mass

COLUMNS = ("task", "variant", "score", "gain", "T_M", "energy", "CO2e", "CEGI", "verdict")


def rows(records: list[dict]) -> list[tuple]:
    out = []
    for r in records:
        est = "~" if r.get("estimate") else ""
        cached = " (cached ft)" if r.get("cached") else ""
        score = "-" if r.get("score") is None else f"{r['score']:.4g}"
        if r.get("metric") and r.get("score") is not None:
            score += f" {r['metric']}"
        gain = "ref" if r.get("reference") else ("-" if r.get("gain_pct") is None else f"{r['gain_pct']:+.3g}%")
        cegi = f"{r['cegi']:.3g}" if r.get("cegi") is not None else ("n/a" if r.get("reference") else "undef" if r.get("score") is not None else "-")
        measured = bool(r.get("windows"))
        out.append((
            r["task"], r["variant"] + cached, score, gain, format_count(r.get("trainable_params")),
            est + format_energy(r["energy_kwh"]) if measured else "-",
            est + format_mass(r["emissions_kg"]) if measured else "-",
            cegi, r["verdict"],
        ))
    return out


def render(records: list[dict], method: dict | None) -> list[str]:
    table = [COLUMNS, *rows(records)]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r.get("estimate") for r in records):
        lines.append("~ modelled estimate, not metered (see 'measured by' below)")
    if method:
        lines.append(f"measured by: {Method(**method).label()}")
        if method.get("basis") == "attributed":
            lines.append("energy and CO2e are attributed to each test's own process (the machine-level "
                         "reading is saved beside them as machine_energy_kwh); budgets and the "
                         "regression gate use the attributed figures")
    lines += notes(records)
    for r in records:
        relevant = r.get("reference_score") is not None or any(c["limit"] == "ceiling" for c in r.get("checks", []))
        if r.get("cegi") is None and r.get("cegi_reason") and not r.get("reference") and relevant:
            lines.append(f"CEGI undefined for {r['task']}/{r['variant']}: {r['cegi_reason']}")
    return lines


def notes(records: list[dict]) -> list[str]:
    """Each distinct note once, with how many tests it concerns (e.g. "measured once")."""
    by_note: dict[str, list[str]] = {}
    for r in records:
        for note in r.get("notes") or []:
            by_note.setdefault(note, []).append(f"{r['task']}/{r['variant']}")
    out = []
    for note, tests in by_note.items():
        who = tests[0] if len(tests) == 1 else f"{len(tests)} tests ({', '.join(tests[:3])}{', ...' if len(tests) > 3 else ''})"
        out.append(f"note: {who}: {note}")
    return out
