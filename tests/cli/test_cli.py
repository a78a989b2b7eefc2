"""`python -m pytest_cegi.cli`: exit codes 0 unchanged, 1 regression, 2 usage or file errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_cegi.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUIET = [1.00e-4, 1.05e-4, 0.95e-4, 1.02e-4, 0.98e-4]
LOUD = [1.50e-4, 1.60e-4, 1.55e-4, 1.45e-4, 1.52e-4]


def cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest_cegi.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def runs(make):
    base = make.save(
        make.run(
            [make.record("base", reference=True, samples=QUIET), make.record("lora", samples=QUIET, cegi=1e-6)],
            repeat=5,
        ),
        "base.json",
    )
    same = make.save(
        make.run(
            [make.record("base", reference=True, samples=QUIET), make.record("lora", samples=QUIET, cegi=1e-6)],
            repeat=5,
        ),
        "same.json",
    )
    worse = make.save(
        make.run(
            [make.record("base", reference=True, samples=QUIET), make.record("lora", samples=LOUD, cegi=1.5e-6)],
            repeat=5,
        ),
        "worse.json",
    )
    return base, same, worse


def test_compare_unchanged_exits_0(runs):
    base, same, _ = runs
    done = cli("compare", base, same)
    assert done.returncode == 0, done.stderr
    assert "0 regression(s)" in done.stdout


def test_compare_regression_exits_1(runs):
    base, _, worse = runs
    done = cli("compare", base, worse)
    assert done.returncode == 1
    assert "REGRESSION  sql / lora" in done.stdout and "Mann-Whitney" in done.stdout
    assert "failing change" in done.stderr


def test_compare_names_the_exact_update_command_for_improvements(runs, make):
    base, _, worse = runs
    done = cli("compare", worse, base, cwd=make.tmp_path)  # base is the better run here
    assert done.returncode == 0, done.stderr
    assert "Improvements found: refresh the baseline with `pytest-cegi update base.json worse.json`." in done.stdout


def test_fail_on_selects_what_fails(runs):
    base, _, worse = runs
    assert cli("compare", base, worse, "--fail-on", "score").returncode == 0
    assert cli("compare", base, worse, "--fail-on", "none").returncode == 0
    assert cli("compare", base, worse, "--fail-on", "score,emissions").returncode == 1
    assert (
        cli(
            "compare",
            base,
            worse,
            "--max-regression",
            "emissions=80%",
            "--max-regression",
            "energy=80%",
            "--max-regression",
            "cegi=80%",
        ).returncode
        == 0
    )


def test_usage_and_file_errors_exit_2(runs, make):
    base, same, _ = runs
    corrupt = make.write_text('{"schema": "pytest-cegi/run", "schema_ver', "corrupt.json")
    done = cli("compare", base, corrupt)
    assert done.returncode == 2 and f"{corrupt}: not valid JSON" in done.stderr
    assert cli("compare", base, make.tmp_path / "missing.json").returncode == 2
    assert cli("compare", base).returncode == 2
    assert cli("compare", base, same, "--fail-on", "latency").returncode == 2
    assert cli("compare", base, same, "--max-regression", "latency=5%").returncode == 2
    assert cli("frobnicate").returncode == 2
    assert cli().returncode == 2


def test_json_and_markdown_formats(runs, make):
    base, _, worse = runs
    data = json.loads(cli("compare", base, worse, "--format", "json").stdout)
    assert data["counts"]["regression"] == 1
    assert data["records"][0]["deltas"]["emissions"]["status"] == "regression"
    out = make.tmp_path / "cmp.md"
    assert cli("compare", base, worse, "--format", "md", "-o", out).returncode == 1
    assert out.read_text(encoding="utf-8").startswith("<!-- pytest-cegi report -->")


def test_report_renders_markdown_and_plot(runs, make):
    pytest.importorskip("matplotlib")
    base, _, worse = runs
    out = make.tmp_path / "out" / "report.md"
    done = cli("report", worse, "--baseline", base, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "**1 regression**" in out.read_text(encoding="utf-8")
    assert (out.parent / "report-pareto.png").exists() and (out.parent / "report-pareto.svg").exists()


def test_report_to_stdout_without_plot(runs):
    _, same, _ = runs
    done = cli("report", same, "--no-plot")
    assert done.returncode == 0 and "no baseline to compare with" in done.stdout


def test_update_promotes_a_run(runs, make):
    _, _, worse = runs
    target = make.tmp_path / "benchmarks" / "baseline.json"
    assert main(["update", worse, str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(Path(worse).read_text(encoding="utf-8"))


def test_update_with_one_argument_refuses_without_a_configured_baseline(runs, make):
    """It once wrote benchmarks/baseline.json wherever it ran, creating benchmarks/."""
    _, same, _ = runs
    done = cli("update", same, cwd=make.tmp_path)
    assert done.returncode == 2, done.stderr
    assert "needs the baseline to write" in done.stderr
    assert not (make.tmp_path / "benchmarks").exists()


def test_update_with_one_argument_uses_the_configured_baseline(runs, make):
    _, same, _ = runs
    (make.tmp_path / "ci").mkdir()
    (make.tmp_path / "pyproject.toml").write_text('[tool.cegi]\nbaseline = "ci/base.json"\n', encoding="utf-8")
    sub = make.tmp_path / "ci"  # found from a subfolder too, as pytest finds its rootdir
    done = cli("update", same, cwd=sub)
    assert done.returncode == 0, done.stderr
    assert "baseline from [tool.cegi]: base.json" in done.stderr
    assert (make.tmp_path / "ci" / "base.json").exists() and not (make.tmp_path / "benchmarks").exists()


def test_update_refuses_invalid_runs_unless_forced(make):
    bad = make.save(make.run([make.record("lora", verdict="invalid")]), "bad.json")
    target = make.tmp_path / "baseline.json"
    assert main(["update", bad, str(target)]) == 2 and not target.exists()
    assert main(["update", bad, str(target), "--force"]) == 0 and target.exists()


def test_update_refuses_a_corrupt_run(make):
    bad = make.write_text("{", "bad.json")
    assert main(["update", bad, str(make.tmp_path / "baseline.json")]) == 2
