"""The energy duet's table for a PR comment (judge/duet.py makes the verdicts)."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_cegi.judge.duet import CONFIDENCE, DuetResult
from pytest_cegi.report import escape


def duet_markdown(results: Sequence[DuetResult], tolerance: str, gating: bool, why: str = "") -> str:
    """Regressions first; `why` says why the duet gates or stays advisory."""
    flagged = [r for r in results if r.status == "regression"]
    mode = "gating" if gating else "advisory"
    lines = [
        f"### Energy duet: base and head side by side on this runner ({mode})",
        "",
        f"{len(flagged)} regression(s) in {len(results)} tests; tolerance {tolerance}; each verdict rests on "
        f"the geometric mean of the paired head/base ratios and its {CONFIDENCE:.0%} bootstrap interval.",
    ]
    if why:
        lines += ["", why]
    lines += ["", "| Test | Pairs | Head / base | Interval | Verdict |", "|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r.status != "regression", r.task, r.variant)):
        ratio = "-" if r.ratio is None else f"{r.ratio:.3f}"
        interval = "-" if r.low is None or r.high is None else f"{r.low:.3f}-{r.high:.3f}"
        mark = " 🔴" if r.status == "regression" else " 🟢" if r.status == "improvement" else ""
        name = f"{escape.cell(r.task)} / {escape.cell(r.variant)}"
        lines.append(f"| {name} | {r.pairs} | {ratio} | {interval} | {r.status}{mark} |")
    return "\n".join(lines) + "\n"
