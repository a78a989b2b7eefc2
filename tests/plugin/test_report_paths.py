"""Reports name files relative to the rootdir (issue 20): the Markdown report becomes
a PR comment, which must not show the runner's absolute path."""

import os

import pytest

from pytest_cegi.cli import main
from pytest_cegi.report.paths import report_path

SUITE = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    cegi.measure_call(lambda: None, requests=4)
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa")
def test_tuned(cegi):
    cegi.trainable_params = 1000
    cegi.measure_call(lambda: None, requests=4)
    cegi.record_score(0.7)
"""


def test_report_path(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "benchmarks").mkdir(parents=True)
    inside = root / "benchmarks" / "baseline.json"
    assert report_path(inside, root) == "benchmarks/baseline.json"
    assert report_path(str(inside), str(root)) == "benchmarks/baseline.json"
    assert report_path(root / "benchmarks" / ".." / "b.json", root) == "b.json"
    outside = tmp_path / "elsewhere" / "baseline.json"
    assert report_path(outside, root) == str(outside)  # outside the root: as given
    assert report_path("relative/b.json", None) == "relative/b.json"  # no root: as given
    monkeypatch.chdir(root / "benchmarks")
    assert report_path("baseline.json", root) == "benchmarks/baseline.json"  # from the working directory
    assert report_path("../../x.json", root) == "../../x.json"


@pytest.fixture
def project(pytester, run):
    """A project whose pyproject names the baseline and the report, as the main job's does:
    [tool.cegi] paths resolve to absolute paths under the rootdir."""
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "benchmarks").mkdir()
    run("--cegi-save=benchmarks/baseline.json").assert_outcomes(passed=2)
    pytester.makefile(
        ".toml",
        pyproject='[tool.cegi]\nbaseline = "benchmarks/baseline.json"\nreport = "cegi-out/report.md"\n',
    )
    return pytester.path


def test_markdown_names_the_configured_baseline_relative_to_the_rootdir(project, run):
    run("--cegi-budget").assert_outcomes(passed=2)
    report = (project / "cegi-out" / "report.md").read_text()
    assert "compared with the baseline `benchmarks/baseline.json`" in report
    assert str(project) not in report


def test_markdown_names_an_absolute_baseline_under_the_rootdir_relatively(project, run):
    run("--cegi-budget", f"--cegi-baseline={project / 'benchmarks' / 'baseline.json'}").assert_outcomes(passed=2)
    report = (project / "cegi-out" / "report.md").read_text()
    assert "`benchmarks/baseline.json`" in report
    assert str(project) not in report


def test_markdown_keeps_a_baseline_outside_the_rootdir_as_given(project, run, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "base.json"
    elsewhere.write_bytes((project / "benchmarks" / "baseline.json").read_bytes())
    run("--cegi-budget", f"--cegi-baseline={elsewhere}").assert_outcomes(passed=2)
    report = (project / "cegi-out" / "report.md").read_text()
    assert f"`{elsewhere}`" in report


def test_cli_names_the_baseline_relative_to_the_working_directory(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    base = project / "benchmarks" / "baseline.json"
    for argv in (
        ["compare", str(base), str(base), "--format", "md"],
        ["compare", str(base), str(base)],
        ["report", str(base), "--baseline", str(base), "--no-plot"],
    ):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "benchmarks/baseline.json" in out
        assert str(project) + os.sep not in out.split("pytest-cegi update")[0], argv
