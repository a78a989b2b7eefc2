"""Pareto plot (`--cegi-plot FILE`): task score against emissions, one panel per task.

Every variant is a labelled point; the Pareto front (variants no other variant
beats on both score and emissions) is drawn as a line. "Better" is always up and
to the left: for lower-is-better metrics the score axis is inverted.
Labels are placed after layout, each at the first free spot around its point
(none overlaps another label, a point or the panel edge; a label moved away from
its point gets a leader line). Log axes carry 1-2-5 ticks written as plain numbers.
Written as PNG and SVG (SVG keeps text as text, so names stay searchable).
matplotlib is an optional extra, imported only here and only when called.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from pytest_cegi.core.run import Run, SavedRecord
from pytest_cegi.core.units import display_mass_unit

_COLS = 3
_FRONT, _OTHER, _REF = "#d1495b", "#30638e", "#edae49"
# A point to label: x, y, the variant's name, the text colour, the font size.
_Label = tuple[float, float, str, str, int]
# A test to plot: its emissions (kg, or the panel's unit once scaled), score and record.
_Point = tuple[float, float, SavedRecord]


class PlotUnavailable(RuntimeError):
    """matplotlib is missing."""


def plot_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """ "out/pareto.png", "out/pareto.svg" or "out/pareto" -> both files."""
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


EMISSIONS = ("measured", "modelled")  # which emissions the x axis shows


def plot_pareto(run: Run, path: str | os.PathLike, emissions: str = "measured") -> list[Path]:
    """Draw the run's Pareto plot; returns the PNG and SVG paths written. `emissions`:
    the meter's figures ("measured") or those modelled from counted work ("modelled")."""
    fig = draw(run, emissions)  # first: raises PlotUnavailable without matplotlib
    import matplotlib

    png, svg = plot_paths(path)
    png.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays searchable text
        fig.savefig(png, dpi=120)
        fig.savefig(svg, metadata={"Date": None})
    return [png, svg]


def draw(run: Run, emissions: str = "measured"):
    """The Pareto figure of a run, laid out and labelled (a matplotlib Figure); each
    test at the score and the emissions (measured or modelled) its run saved."""
    if emissions not in EMISSIONS:
        raise ValueError(f"emissions must be one of {', '.join(EMISSIONS)}, got {emissions!r}")
    modelled = emissions == "modelled"
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailable("the Pareto plot needs matplotlib: pip install 'pytest-cegi[plot]'") from exc

    tasks: dict[str, list[_Point]] = {}
    skipped = []
    for rec in run.records:
        score = rec.record.score
        kg = rec.record.modelled_emissions_kg if modelled else rec.emissions_kg
        if score is None or not kg:
            skipped.append(f"{rec.task}/{rec.variant}")
            continue
        tasks.setdefault(rec.task, []).append((kg, score, rec))

    n = max(1, len(tasks))
    cols = min(_COLS, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(6.4 * cols, 4.8 * rows + 0.8), layout="constrained")
    canvas = FigureCanvasAgg(fig)
    which = "modelled emissions (counted work)" if modelled else "emissions"
    fig.suptitle(f"Task score vs {which}\nPareto front: variants no other variant beats on both", fontsize=11)
    if not tasks:
        fig.text(0.5, 0.5, f"No test has both a score and {emissions} emissions.", ha="center")
    panels = []
    for i, task in enumerate(sorted(tasks)):
        ax = fig.add_subplot(rows, cols, i + 1)
        panels.append((ax, _panel(ax, task, tasks[task], modelled)))
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        fig.supxlabel(f"Not plotted (no score or emissions): {shown}", fontsize=8, color="0.4")
    if panels:
        # Labels go where they fit once the layout is final; then the layout is frozen,
        # so saving does not move the axes out from under them.
        fig.canvas.draw()
        renderer = canvas.get_renderer()
        for ax, points in panels:
            _place_labels(ax, points, renderer)
        fig.set_layout_engine("none")
    return fig


def _panel(ax, task: str, measured: list[_Point], modelled: bool = False) -> list[_Label]:
    records = [rec for _, _, rec in measured]
    higher = records[0].record.higher_is_better
    unit, factor = display_mass_unit(max(kg for kg, _, _ in measured))
    points = [(kg / factor, score, rec) for kg, score, rec in measured]
    front = pareto_front(points, higher)
    on_front = {id(p[2]) for p in front}

    ax.set_title(task, fontsize=11, fontweight="bold")
    xs = [p[0] for p in points]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        _log_axis(ax, min(xs), max(xs))
    approx = " (≈ modelled)" if modelled or any(r.estimate for r in records) else ""
    if modelled and any(";" in (r.record.modelled_basis or "") for r in records):
        approx = " (≈ modelled, inference windows)"
    ax.set_xlabel(f"emissions per test, {unit} CO2e{approx}  (← cleaner)")
    metric = records[0].record.metric or "score"
    ax.set_ylabel(
        f"{metric}  (higher is better ↑)" if higher else f"{metric}  (lower is better; axis inverted, better ↑)"
    )
    if not higher:
        ax.invert_yaxis()
    ax.grid(True, alpha=0.3)

    ax.step(
        [p[0] for p in front],
        [p[1] for p in front],
        where="post",
        color=_FRONT,
        lw=1.5,
        alpha=0.8,
        label="Pareto front",
        zorder=1,
    )
    others = [p for p in points if id(p[2]) not in on_front]
    if others:
        ax.scatter([p[0] for p in others], [p[1] for p in others], s=36, color=_OTHER, label="dominated", zorder=2)
    ax.scatter([p[0] for p in front], [p[1] for p in front], s=48, color=_FRONT, label="on the front", zorder=3)
    refs = [p for p in points if p[2].record.reference]
    if refs:
        ax.scatter(
            [p[0] for p in refs],
            [p[1] for p in refs],
            s=180,
            marker="*",
            color=_REF,
            edgecolors="black",
            linewidths=0.6,
            label="reference",
            zorder=4,
        )

    ax.margins(x=0.15, y=0.15)
    # Below the axes, so the legend never hides a point.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)
    size = 8 if len(points) <= 20 else 6
    return [(x, y, rec.variant, _FRONT if id(rec) in on_front else "0.15", size) for x, y, rec in points]


def _log_axis(ax, low: float, high: float) -> None:
    """A log axis a reader can read: ticks at 1, 2 and 5 of each decade (thinned to
    about eight), written as plain numbers rather than 10^k."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax.set_xscale("log")
    first, last = math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1
    ticks = [m * 10.0**e for e in range(first, last + 1) for m in (1, 2, 5)]
    inside = [t for t in ticks if low / 1.6 <= t <= high * 1.6]
    step = max(1, math.ceil(len(inside) / 8))
    ax.xaxis.set_major_locator(FixedLocator(inside[::step] if step > 1 else inside))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


# Offsets (points) tried in turn around a point: right, left, above, below, then further out.
_SPOTS = [(6, 3), (6, -11), (-6, 3), (-6, -11), (0, 9), (0, -17)] + [
    (dx, dy) for r in (1, 2, 3) for dx, dy in ((8, 12 * r + 3), (8, -12 * r - 11), (-8, 12 * r + 3), (-8, -12 * r - 11))
]


def _place_labels(ax, points: list[_Label], renderer) -> None:
    """Label every point at the first spot where its text overlaps no other label, no
    point and stays inside the panel; a label that had to move off gets a leader line."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    inside = ax.get_window_extent(renderer)
    scale = renderer.points_to_pixels(1.0)
    marks = [ax.transData.transform((x, y)) for x, y, *_ in points]
    # A point's zone reaches 10 pt above and below it: a label right under or over a
    # neighbour would read as that neighbour's.
    dots = [Bbox.from_bounds(px - 5 * scale, py - 10 * scale, 10 * scale, 20 * scale) for px, py in marks]
    taken: list = []
    # Crowded points first, so they get the near spots.
    order = sorted(
        range(len(points)),
        key=lambda i: (
            -sum(
                1
                for j in range(len(points))
                if i != j and abs(marks[i][0] - marks[j][0]) + abs(marks[i][1] - marks[j][1]) < 60
            )
        ),
    )
    for i in order:
        x, y, name, color, size = points[i]
        placed = False
        for dx, dy in _SPOTS:
            far = abs(dy) > 12
            leader = dict(arrowstyle="-", color="0.6", lw=0.6, shrinkA=1, shrinkB=4) if far else None
            text = ax.annotate(
                name,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=size,
                color=color,
                ha="left" if dx >= 0 else "right",
                annotation_clip=False,
                arrowprops=leader,
            )
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer).expanded(1.04, 1.1)  # the text, not its leader
            fits = inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
            if (
                fits
                and not any(box.overlaps(b) for b in taken)
                and not any(box.overlaps(d) for j, d in enumerate(dots) if j != i)
            ):
                taken.append(box)
                placed = True
                break
            text.remove()
        if not placed:  # nowhere free: left of the point, which is always inside the panel's right edge
            text = ax.annotate(
                name,
                (x, y),
                xytext=(-6, 3),
                textcoords="offset points",
                fontsize=size,
                color=color,
                ha="right",
                annotation_clip=False,
            )
            text.update_positions(renderer)
            taken.append(Text.get_window_extent(text, renderer))
