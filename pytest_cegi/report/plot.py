"""Pareto plot (`--cegi-plot FILE`): task score against emissions, one panel per task.

Every variant is a labelled point; the Pareto front (variants no other variant
beats on both score and emissions) is drawn as a line. "Better" is always up and
to the left: for lower-is-better metrics the score axis is inverted.
Written as PNG and SVG (SVG keeps text as text, so names stay searchable).
matplotlib is an optional extra, imported only here and only when called.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from pytest_cegi.units import MASS_UNITS_KG

_COLS = 3
_FRONT, _OTHER, _REF = "#d1495b", "#30638e", "#edae49"


class PlotUnavailable(RuntimeError):
    """matplotlib is missing."""


def plot_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """"out/pareto.png", "out/pareto.svg" or "out/pareto" -> both files."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix.lower() in (".png", ".svg") else p
    return stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")


def pareto_front(points: list[tuple], higher_is_better: bool = True) -> list[tuple]:
    """Points (emissions, score, ...) not dominated by any other, by rising emissions."""
    sign = 1 if higher_is_better else -1
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (p[0], -sign * p[1])):
        if sign * p[1] > best:
            front.append(p)
            best = sign * p[1]
    return front


def plot_pareto(run: dict, path: str | os.PathLike) -> list[Path]:
    """Draw the run's Pareto plot; returns the PNG and SVG paths written."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailable("the Pareto plot needs matplotlib: pip install 'pytest-cegi[plot]'") from exc

    tasks: dict = {}
    skipped = []
    for rec in run.get("records", []):
        if rec.get("score") is None or not rec.get("emissions_kg"):
            skipped.append(f"{rec['task']}/{rec['variant']}")
            continue
        tasks.setdefault(rec["task"], []).append(rec)

    n = max(1, len(tasks))
    cols = min(_COLS, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(6.4 * cols, 4.8 * rows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle("Task score vs emissions\nPareto front: variants no other variant beats on both",
                 fontsize=11)
    if not tasks:
        fig.text(0.5, 0.5, "No test has both a score and measured emissions.", ha="center")
    for i, task in enumerate(sorted(tasks)):
        _panel(fig.add_subplot(rows, cols, i + 1), task, tasks[task])
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        fig.supxlabel(f"Not plotted (no score or emissions): {shown}", fontsize=8, color="0.4")

    png, svg = plot_paths(path)
    png.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.fonttype": "none"}):   # SVG text stays searchable text
        fig.savefig(png, dpi=120)
        fig.savefig(svg, metadata={"Date": None})
    return [png, svg]


def _panel(ax, task: str, records: list[dict]) -> None:
    higher = records[0].get("higher_is_better", True)
    top = max(r["emissions_kg"] for r in records)
    unit, factor = next(((u, f) for u, f in sorted(MASS_UNITS_KG.items(), key=lambda kv: -kv[1]) if top >= f),
                        ("mg", 1e-6))
    points = [(r["emissions_kg"] / factor, r["score"], r) for r in records]
    front = pareto_front(points, higher)
    on_front = {id(p[2]) for p in front}

    ax.set_title(task, fontsize=11, fontweight="bold")
    xs = [p[0] for p in points]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    approx = " (≈ modelled)" if any(r.get("estimate") for r in records) else ""
    ax.set_xlabel(f"emissions per test, {unit} CO2e{approx}  (← cleaner)")
    metric = records[0].get("metric") or "score"
    ax.set_ylabel(f"{metric}  (higher is better ↑)" if higher else f"{metric}  (lower is better; axis inverted, better ↑)")
    if not higher:
        ax.invert_yaxis()
    ax.grid(True, alpha=0.3)

    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color=_FRONT, lw=1.5,
            alpha=0.8, label="Pareto front", zorder=1)
    others = [p for p in points if id(p[2]) not in on_front]
    if others:
        ax.scatter([p[0] for p in others], [p[1] for p in others], s=36, color=_OTHER, label="dominated",
                   zorder=2)
    ax.scatter([p[0] for p in front], [p[1] for p in front], s=48, color=_FRONT, label="on the front", zorder=3)
    refs = [p for p in points if p[2].get("reference")]
    if refs:
        ax.scatter([p[0] for p in refs], [p[1] for p in refs], s=180, marker="*", color=_REF,
                   edgecolors="black", linewidths=0.6, label="reference", zorder=4)

    size = 8 if len(points) <= 20 else 6
    # Alternate labels above and below along the x axis so neighbours overlap less.
    for k, (x, y, rec) in enumerate(sorted(points, key=lambda p: (p[0], p[1]))):
        dy = 6 if k % 2 == 0 else -11
        ax.annotate(rec["variant"], (x, y), xytext=(5, dy), textcoords="offset points", fontsize=size,
                    color=_FRONT if id(rec) in on_front else "0.15")
    ax.margins(x=0.15, y=0.15)
    # Below the axes, so the legend never hides a point.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)
