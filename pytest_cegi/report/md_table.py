"""Markdown building blocks for the report: escaped table cells, tables that say what
they left out, folds, and the row every per-test section shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_cegi.core.run import SavedRecord
from pytest_cegi.core.units import format_mass
from pytest_cegi.judge.regression import QuantityDelta
from pytest_cegi.report import escape

FOLD_ROWS = 10  # tables longer than this fold into <details>


def cell(text: object, limit: int = escape.CELL_CHARS) -> str:
    """Make text safe inside a Markdown table cell (report/escape.py)."""
    return escape.cell(text, limit)


def table(header: list, rows: list, cap: int | None, what: str = "rows", cell_chars: int = escape.CELL_CHARS) -> str:
    """Every cell is escaped here, so no section can forget to."""
    shown = rows if cap is None else rows[:cap]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c, cell_chars) for c in row) + " |" for row in shown]
    if len(rows) > len(shown):
        lines.append(f"\n_{len(rows) - len(shown)} more {what} not shown (see the saved run JSON)._")
    return "\n".join(lines)


def fold(summary: str, body: str, rows: int) -> str:
    """summary: already escaped with escape.html (it sits inside an HTML block)."""
    if rows <= FOLD_ROWS:
        return body
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


@dataclass(frozen=True)
class ReportRow:
    """One test as the per-task tables and charts show it, with or without a baseline:
    the comparison's entry, or the saved record alone (status: its verdict, no deltas)."""

    task: str
    variant: str
    head: SavedRecord | None  # this run's record; None for a test removed since the baseline
    base: SavedRecord | None  # the baseline's record; None without a baseline or for an added test
    status: str | None  # the comparison's status, or the verdict without a baseline
    deltas: dict[str, QuantityDelta] = field(default_factory=dict)

    @property
    def rec(self) -> SavedRecord:
        """The record whose figures the row shows: this run's, or the baseline's if removed."""
        shown = self.head or self.base
        assert shown is not None
        return shown


def short(text: str, width: int = escape.LABEL_CHARS) -> str:
    return escape.label(text, width)


def number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def tonnes(kg: float) -> str:
    return format_mass(kg, largest="t")
