"""A baseline saved before T_M = 0 (models used as is charged all their parameters)
still loads and compares; the n/a CEGI is not a regression. And the refresh hint."""

from pytest_cegi.core.run import Run
from pytest_cegi.core.run_file import load_run
from pytest_cegi.judge.comparison import compare
from pytest_cegi.report.markdown import render as render_run
from pytest_cegi.report.paths import refresh_command


def render(run, *args, **kwargs):
    """The report of a run dict, typed once as the report takes it."""
    return render_run(Run.from_dict(run), *args, **kwargs)


def old_style(rec: dict) -> dict:
    """A record as written before this change: no cegi_applicable, limits, error or reruns."""
    for key in (
        "cegi_applicable",
        "limits",
        "error",
        "reruns",
        "rerun_energy_kwh",
        "rerun_emissions_kg",
        "max_regression_source",
    ):
        rec.pop(key, None)
    return rec


def test_an_old_baseline_loads_and_compares_with_a_nothing_trained_run(make):
    # before: the untrained larger base was charged all its parameters and got a (tiny) CEGI
    old = make.run(
        [
            old_style(make.record("base", task="vqa", reference=True, score=0.2)),
            old_style(make.record("large", task="vqa", score=0.31, cegi=1.6e-8, trainable_params=609_664)),
            old_style(make.record("lora-r4", task="vqa", score=0.66, cegi=1e-6, trainable_params=11_776)),
        ]
    )
    path = make.save(old, "old.json")
    assert load_run(path)["records"][1]["cegi"] == 1.6e-8  # still readable
    head = make.run(
        [
            make.record("base", task="vqa", reference=True, score=0.2),
            make.record(
                "large",
                task="vqa",
                score=0.31,
                trainable_params=0,
                cegi_applicable=False,
                cegi_reason="n/a (nothing trained)",
            ),
            make.record("lora-r4", task="vqa", score=0.66, cegi=1e-6, trainable_params=11_776),
        ]
    )
    comparison = compare(load_run(path), head)
    assert comparison.counts()["regression"] == 0
    d = next(r for r in comparison.records if r.variant == "large").deltas["cegi"]
    assert d.status == "not compared" and "n/a (nothing trained)" in d.reason
    text = render(head, comparison)
    assert "| large | ⚪ unchanged |" in text and "n/a (nothing trained)" in text


def test_refresh_command_is_update_with_this_runs_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        refresh_command(tmp_path / "cegi-out" / "run.json", tmp_path / "benchmarks" / "baseline.json")
        == "pytest-cegi update cegi-out/run.json benchmarks/baseline.json"
    )
    # no --cegi-save: say to save one first, never to overwrite the baseline with --cegi-save
    hint = refresh_command(None, "ci/base.json")
    assert hint.splitlines()[-1] == "pytest-cegi update RUN.json ci/base.json"
    assert "--cegi-save ci/base.json" not in hint


def test_compare_names_saved_tolerance_sources(make, capsys):
    """`pytest-cegi compare`: a default tolerance says "default", a configured one its file."""
    from pytest_cegi.cli import main

    base = make.save(make.run([make.record("a", score=0.9)]), "base.json")
    head_run = make.run([make.record("a", score=0.5)])
    head_run["settings"].update(
        max_regression={"score": "0.01", "emissions": "20%"},
        max_regression_sources={"score": "default", "emissions": "pyproject.toml [tool.cegi] max_regression"},
    )
    head = make.save(head_run, "head.json")
    assert main(["compare", base, head]) == 1
    out = capsys.readouterr().out
    assert "exceeds tolerance 0.01 (default)" in out and "saved run settings" not in out
