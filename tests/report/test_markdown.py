"""The per-PR Markdown report: a golden file, the comment size limit, folding."""

import os
from pathlib import Path

import pytest

from pytest_cegi.core.run import Run
from pytest_cegi.judge.comparison import compare
from pytest_cegi.report import markdown, md_table
from pytest_cegi.report.markdown import GITHUB_COMMENT_LIMIT, MARKER, write_report
from pytest_cegi.report.markdown import render as render_run

GOLDEN = Path(__file__).parent / "golden"
QUIET = [1.00e-4, 1.05e-4, 0.95e-4, 1.02e-4, 0.98e-4]
LOUD = [1.50e-4, 1.60e-4, 1.55e-4, 1.45e-4, 1.52e-4]


NEAR = [1.05e-4, 1.10e-4, 1.00e-4, 1.07e-4, 1.03e-4]  # QUIET + 5 %: within the 10 % tolerance
# A model used as is: nothing trained (T_M = 0), so CEGI n/a and its ceiling does not apply.
INT8 = dict(
    score=0.42,
    trainable_params=0,
    cegi_applicable=False,
    gain_pct=5.0,
    cegi_reason="n/a (nothing trained)",
    limits={
        "floor": {"value": 0.3, "source": "pyproject.toml budget #1"},
        "ceiling": {"value": 2e-6, "source": "pyproject.toml budget #1"},
    },
)
# Limits from two entries, one lifted with `false`.
LORA_R8 = dict(
    trainable_params=4096,
    gain_pct=37.5,
    limits={
        "floor": {"value": 0.5, "source": "pyproject.toml budget #3"},
        "ceiling": {"value": None, "source": "pyproject.toml budget #4"},
        "max_emissions": {"value": 2e-3, "source": "pyproject.toml budget #1"},
    },
)


def render(run, *args, **kwargs):
    """The report of a run dict, typed once as the report takes it."""
    return render_run(Run.from_dict(run), *args, **kwargs)


def scenario(make):
    """Two tasks: an emissions regression, a score drop, an improvement, an
    unchanged reference, a removed and an added variant, a budget violation, a
    model used as is whose emissions moved within tolerance, a test rerun once."""
    deployment = {"requests_per_second": 15, "units": 24e6}
    violation = make.Check(
        limit="ceiling",
        threshold=1.0e-6,
        value=2.4e-6,
        source="pyproject.toml budget #2",
        status="fail",
        message="CEGI 2.4e-06 > ceiling 1.0e-06 (pyproject.toml budget #2)",
    )
    base = make.run(
        [
            make.record("base", reference=True, score=0.40, samples=QUIET, requests=50),
            make.record("lora-r8", score=0.55, samples=QUIET, cegi=1.2e-6, requests=50, finetune=1e-4),
            make.record("lora-r16", score=0.60, samples=QUIET, cegi=1.0e-6, requests=50),
            make.record("qlora-nf4", score=0.52, samples=LOUD, cegi=2.0e-6, requests=50),
            make.record("int8", samples=QUIET, requests=50, **INT8),
            make.record("base", task="summarization", reference=True, score=0.21, samples=QUIET, metric="rougeL"),
            make.record("distil", task="summarization", score=0.24, samples=QUIET, cegi=3e-7, metric="rougeL"),
        ],
        repeat=5,
        deployment=deployment,
    )
    head = make.run(
        [
            make.record("base", reference=True, score=0.40, samples=QUIET, requests=50),
            make.record(
                "lora-r8",
                score=0.55,
                samples=LOUD,
                cegi=1.8e-6,
                requests=50,
                finetune=1e-4,
                reruns=1,
                rerun_energy_kwh=1e-4,
                rerun_emissions_kg=4e-5,
                **LORA_R8,
            ),
            make.record("lora-r16", score=0.52, samples=QUIET, cegi=1.0e-6, requests=50),
            make.record("qlora-nf4", score=0.52, samples=QUIET, cegi=1.3e-6, requests=50),
            make.record("int8", samples=NEAR, requests=50, carbon_per_gain=8.4e-6, **INT8),
            make.record("base", task="summarization", reference=True, score=0.21, samples=QUIET, metric="rougeL"),
            make.record(
                "lora-r4",
                task="summarization",
                score=0.26,
                samples=QUIET,
                cegi=2.4e-6,
                metric="rougeL",
                checks=[violation],
                verdict="fail",
            ),
        ],
        repeat=5,
        deployment=deployment,
        created="2025-01-02T00:00:00+00:00",
    )
    return base, head


def golden_check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CEGI_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with CEGI_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; CEGI_UPDATE_GOLDEN=1 updates it"


def test_golden_report_with_baseline(make):
    base, head = scenario(make)
    text = render(
        head,
        compare(base, head),
        baseline_label="benchmarks/baseline.json",
        refresh_command="pytest-cegi update cegi-out/run.json benchmarks/baseline.json",
    )
    golden_check("report_with_baseline.md", text)


def test_golden_report_without_baseline(make):
    _, head = scenario(make)
    golden_check("report_without_baseline.md", render(head))


def test_report_content(make):
    base, head = scenario(make)
    text = render(head, compare(base, head), baseline_label="benchmarks/baseline.json")
    assert text.startswith(MARKER)
    assert "## pytest-cegi: **2 regressions**, 1 improvement, 3 unchanged, 1 added, 1 removed" in text
    # regressions come first, with their limits and sources
    assert text.index("### Regressions") < text.index("### Results by task")
    assert "| sql / lora-r8 | emissions |" in text and "10% (default)" in text
    assert "pyproject.toml budget #2" in text  # the failed budget limit's source
    assert "```mermaid\nxychart-beta" in text
    assert "### Deployment projection" in text and "15 req/s x 2.4e+07 units" in text
    assert "**measured** with `codecarbon`" in text
    # refresh hint for improvements: through `update` (its checks), into the baseline compared with
    assert "pytest-cegi update RUN.json benchmarks/baseline.json" in text
    assert "pytest --cegi-save benchmarks/baseline.json" not in text


def test_unrepeated_and_mismatch_warnings(make):
    base = make.run([make.record("a", energy=1e-4)])
    head = make.run([make.record("a", energy=2e-4)])
    text = render(head, compare(base, head))
    assert "**fewer than 3 repeats a side**" in text and "**gross changes only**" in text
    # the change is shown beside the figure, with the rule that judged it
    assert "(+100.0%, within 100% (single sample))" in text
    assert "are gated against gross changes only, beyond the single-sample tolerance (2x either way)" in text
    assert "0 regressions" in text
    tripled = make.run([make.record("a", energy=3e-4)])
    text = render(tripled, compare(base, tripled))
    assert "1 regression" in text and "single sample" in text and "100% (single-sample tolerance, default)" in text
    moved = make.run([make.record("a", energy=2e-4)], machine=dict(make.MACHINE, cpu="Intel Xeon"))
    text = render(moved, compare(base, moved))
    assert "> [!WARNING]" in text and "hardware differs" in text
    assert "Not compared: emissions, energy, cegi" in text
    bumped = make.run([make.record("a", energy=2e-4)])
    bumped["packages"] = {"transformers": "9.9.9"}
    base["packages"] = {"transformers": "5.25.0"}
    text = render(bumped, compare(base, bumped))
    assert "software differs: baseline transformers 5.25.0, this run transformers 9.9.9" in text
    assert "Every quantity is compared" in text
    assert "Not compared" not in text and "as asked" not in text


def test_long_tables_fold_into_details(make):
    head = make.run([make.record(f"v{i:02d}") for i in range(md_table.FOLD_ROWS + 1)])
    text = render(head)
    assert "<details><summary>sql: 11 variants</summary>" in text
    short = render(make.run([make.record(f"v{i:02d}") for i in range(3)]))
    assert "<details>" not in short


def test_cells_are_escaped(make):
    text = render(make.run([make.record("a|b<script>")]))
    assert "a\\|b&lt;script>" in text


def test_300_variants_stay_under_the_comment_limit(make):
    long = "x" * 60
    base = make.run(
        [
            make.record(f"lora-{long}-{i:03d}", task=f"task-{i % 7}", samples=QUIET, cegi=1e-6, requests=10)
            for i in range(300)
        ],
        repeat=5,
        deployment={"requests_per_day": 1e6},
    )
    head = make.run(
        [
            make.record(f"lora-{long}-{i:03d}", task=f"task-{i % 7}", samples=LOUD, cegi=2e-6, score=0.4, requests=10)
            for i in range(300)
        ],
        repeat=5,
        deployment={"requests_per_day": 1e6},
    )
    comparison = compare(base, head)
    assert len(comparison.regressions()) == 300
    text = render(head, comparison, baseline_label="benchmarks/baseline.json")
    assert len(text) < GITHUB_COMMENT_LIMIT
    assert "## pytest-cegi: **300 regressions**" in text  # the headline survives the cuts
    assert "not shown (see the saved run JSON)" in text


def test_write_report_appends_to_the_step_summary(make, monkeypatch):
    summary = make.tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_report("# report\n", make.tmp_path / "out" / "report.md")
    assert (make.tmp_path / "out" / "report.md").read_text(encoding="utf-8") == "# report\n"
    assert summary.read_text(encoding="utf-8") == "earlier step\n# report\n"


def test_no_step_summary_when_unset(make, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    write_report("# report\n", make.tmp_path / "report.md")
    assert (make.tmp_path / "report.md").exists()


@pytest.mark.parametrize("limit", [5_000, 20_000])
def test_max_chars_is_honoured(make, limit):
    head = make.run([make.record(f"variant-{i:03d}-" + "y" * 40) for i in range(300)])
    assert len(render(head, max_chars=limit)) <= limit


def test_every_delta_within_tolerance_says_so_and_the_chart_charts_every_test(make):
    base, head = scenario(make)
    text = render(head, compare(base, head), baseline_label="benchmarks/baseline.json")
    assert "42 mg (+5.0%; lowest +5.3%, within 10%)" in text  # "unchanged" beside +5 % is explained
    assert "_Charts 6 tests: every test with measured emissions in both runs._" in text
    assert "Not charted: summarization/distil (removed), summarization/lora-r4 (added)" in text
    # natural order inside a status group: lora-r8 before lora-r16
    sql = text[text.index("#### sql") : text.index("#### summarization")]
    assert sql.index("| lora-r8 |") < sql.index("| lora-r16 |")


def test_a_cut_chart_says_how_many_bars_it_left_out(make):
    many = make.run([make.record(f"v{i}", samples=QUIET) for i in range(40)])
    text = markdown._Report(Run.from_dict(many), None, [], None, None, 10).chart()
    assert text.count('"v') == 10 and "30 more of sql (report cut to fit a GitHub comment)" in text


def test_a_removed_task_is_named_once_under_the_chart(make):
    base = make.run(
        [make.record(f"v{i}", task="gone", samples=QUIET) for i in range(5)]
        + [make.record("a", samples=QUIET), make.record("b", samples=QUIET)]
    )
    head = make.run([make.record("a", samples=QUIET), make.record("b", samples=QUIET)])
    text = render(head, compare(base, head))
    assert "_Not charted: all 5 tests of gone (removed)._" in text
    assert "| v0 | ➖ removed |" in text and "n/a" not in text.split("#### gone")[1].split("|")[9]


def test_lifted_rule_still_shows_the_change_and_cost_is_not_marked_modelled(make):
    """`max_regression = { energy = false }` stops gating energy, not reporting it; and
    the counted cost is never marked ≈ (only energy-derived figures are modelled)."""
    modelled = make.METHOD.__class__(**{**make.METHOD.to_dict(), "estimate": True, "cpu": "modelled"})

    def counted(energy: float) -> dict:
        rec = make.record("base", energy=energy, method=modelled)
        rec["windows"][0]["flops"] = 1000  # what the counting pass records
        return rec

    base = make.run([counted(1e-4)], method=modelled)
    head = make.run([counted(1.5e-4)], method=modelled)
    lifted = {"energy": None, "emissions": None, "cegi": None}
    text = render(head, compare(base, head, lifted))
    row = next(line for line in text.splitlines() if line.startswith("| base"))
    assert "(+50.0%, not gated)" in row, row
    assert "🔴" not in row and "regression" not in row.lower()
    cells = [c.strip() for c in row.strip("|").split("|")]
    cost = cells[5]  # Variant, Status, Score, Gain, T_M, Cost
    assert not cost.startswith("≈"), row
    assert cells[8].startswith("≈") and cells[9].startswith("≈"), row  # emissions, energy (after the modelled pair)
