"""The Pareto plot: valid PNG and SVG files that name every variant."""

import pytest

from pytest_cegi.core.run import Run
from pytest_cegi.report.plot import draw, pareto_front, plot_pareto, plot_paths

pytest.importorskip("matplotlib")

VARIANTS = {  # name: (score, inference energy kWh)
    "base": (0.40, 2.0e-4),
    "lora-r8": (0.55, 3.0e-4),
    "lora-r16": (0.60, 3.2e-4),
    "qlora-nf4": (0.52, 1.5e-4),
    "int8": (0.38, 1.2e-4),
    "dominated": (0.35, 5.0e-4),
}


def test_front_keeps_only_undominated_points():
    points = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (0.5, 0.3), (2.0, 0.4)]
    assert pareto_front(points) == [(0.5, 0.3), (1.0, 0.5), (2.0, 0.7)]
    assert pareto_front(points, higher_is_better=False) == [(0.5, 0.3)]


def test_paths():
    assert [p.name for p in plot_paths("out/pareto.png")] == ["pareto.png", "pareto.svg"]
    assert [p.name for p in plot_paths("out/pareto")] == ["pareto.png", "pareto.svg"]


def test_png_and_svg_contain_every_variant(make):
    records = [
        make.record(name, score=score, energy=energy, reference=name == "base")
        for name, (score, energy) in VARIANTS.items()
    ]
    records.append(make.record("wer-base", task="asr", score=0.12, energy=1e-4, metric="wer"))
    records[-1]["higher_is_better"] = False
    records.append(make.record("unscored", score=None))
    png, svg = plot_pareto(Run.from_dict(make.run(records)), make.tmp_path / "out" / "pareto.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for name in [*VARIANTS, "wer-base"]:
        assert f">{name}<" in text, name
    assert "Pareto front" in text
    assert "Not plotted (no score or emissions): sql/unscored" in text


def test_empty_run_still_draws_a_figure(make):
    png, svg = plot_pareto(Run.from_dict(make.run([])), make.tmp_path / "empty.svg")
    assert png.exists() and "No test has both a score" in svg.read_text(encoding="utf-8")


# The summarize suite of the committed baseline: lora-r4 and lora-r16 lie 0.06 mg apart
# at the same score, large-lora-r8 at the right edge, emissions over two decades.
CROWDED = {
    "base": (0.558, 0.312),
    "int8": (0.558, 0.760),
    "nf4": (0.554, 0.441),
    "large": (0.553, 0.502),
    "lora-r4": (0.773, 8.272),
    "lora-r16": (0.772, 7.915),
    "qlora-nf4-r8": (0.772, 8.948),
    "large-lora-r8": (0.744, 14.765),
}


def crowded_figure(make):
    records = []
    for name, (score, mg) in CROWDED.items():
        rec = make.record(name, task="summarize", score=score, reference=name == "base")
        rec["emissions_kg"] = mg * 1e-6
        records.append(rec)
    return draw(Run.from_dict(make.run(records)))


def test_labels_never_overlap_and_stay_inside_the_panel(make):
    fig = crowded_figure(make)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() in CROWDED]
    assert sorted(t.get_text() for t in labels) == sorted(CROWDED)
    from matplotlib.text import Text

    boxes = []
    for t in labels:
        t.update_positions(renderer)
        boxes.append((t.get_text(), Text.get_window_extent(t, renderer)))
    panel = ax.get_window_extent(renderer)
    for name, box in boxes:  # large-lora-r8 was cut off at the right edge
        assert panel.x0 <= box.x0 and box.x1 <= panel.x1 and panel.y0 <= box.y0 and box.y1 <= panel.y1, name
    for i, (a, box_a) in enumerate(boxes):  # lora-r4 and lora-r16 overlapped
        for b, box_b in boxes[i + 1 :]:
            assert not box_a.overlaps(box_b), (a, b)


def test_log_axis_has_readable_ticks(make):
    fig = crowded_figure(make)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert len(shown) > 2  # it showed 10^0 and 10^1 only
    labels = [ax.xaxis.get_major_formatter()(t) for t in shown]
    assert labels == [f"{t:g}" for t in shown] and "0.5" in labels and "10" in labels  # plain numbers


def test_the_plot_can_show_modelled_emissions(make):
    """`pytest-cegi report --plot-emissions modelled`: the x axis is the emissions
    modelled from counted work, and a test without them is listed as not plotted."""
    records = []
    for i, (name, (score, energy)) in enumerate(VARIANTS.items()):
        rec = make.record(name, score=score, energy=energy, reference=name == "base")
        if i:  # the first has no counted work
            rec["windows"][0]["modelled_energy_kwh"] = energy / 2
            rec["windows"][0]["modelled_emissions_kg"] = energy / 2 * 0.4
        records.append(rec)
    fig = draw(Run.from_dict(make.run(records)), "modelled")
    (ax,) = fig.axes
    assert "modelled emissions" in fig._suptitle.get_text()
    assert "≈ modelled" in ax.get_xlabel()
    xs = sorted(float(x) for points in ax.collections for x, _ in points.get_offsets())
    modelled_mg = sorted(energy / 2 * 0.4 * 1e6 for name, (_, energy) in VARIANTS.items() if name != "base")
    assert xs == pytest.approx(modelled_mg)  # the modelled figures (mg), not the measured ones
    assert "Not plotted (no score or emissions): sql/base" in fig._supxlabel.get_text()
    with pytest.raises(ValueError, match="measured, modelled"):
        draw(Run.from_dict(make.run(records)), "guessed")
