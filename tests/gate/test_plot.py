"""The Pareto plot: valid PNG and SVG files that name every variant."""
import pytest

from pytest_cegi.report.plot import pareto_front, plot_paths, plot_pareto

pytest.importorskip("matplotlib")

VARIANTS = {  # name: (score, inference energy kWh)
    "base": (0.40, 2.0e-4), "lora-r8": (0.55, 3.0e-4), "lora-r16": (0.60, 3.2e-4),
    "qlora-nf4": (0.52, 1.5e-4), "int8": (0.38, 1.2e-4), "dominated": (0.35, 5.0e-4),
}


def test_front_keeps_only_undominated_points():
    points = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (0.5, 0.3), (2.0, 0.4)]
    assert pareto_front(points) == [(0.5, 0.3), (1.0, 0.5), (2.0, 0.7)]
    assert pareto_front(points, higher_is_better=False) == [(0.5, 0.3)]


def test_paths():
    assert [p.name for p in plot_paths("out/pareto.png")] == ["pareto.png", "pareto.svg"]
    assert [p.name for p in plot_paths("out/pareto")] == ["pareto.png", "pareto.svg"]


def test_png_and_svg_contain_every_variant(make):
    records = [make.record(name, score=score, energy=energy, reference=name == "base")
               for name, (score, energy) in VARIANTS.items()]
    records.append(make.record("wer-base", task="asr", score=0.12, energy=1e-4, metric="wer"))
    records[-1]["higher_is_better"] = False
    records.append(make.record("unscored", score=None))
    png, svg = plot_pareto(make.run(records), make.tmp_path / "out" / "pareto.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for name in [*VARIANTS, "wer-base"]:
        assert f">{name}<" in text, name
    assert "Pareto front" in text
    assert "Not plotted (no score or emissions): sql/unscored" in text


def test_empty_run_still_draws_a_figure(make):
    png, svg = plot_pareto(make.run([]), make.tmp_path / "empty.svg")
    assert png.exists() and "No test has both a score" in svg.read_text(encoding="utf-8")
