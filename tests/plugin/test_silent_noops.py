"""Silent no-ops (issue 12): every input that used to switch the gate off without a
word is now a usage error or a visible warning (terminal summary and report)."""

from __future__ import annotations

import json

import pytest

SUITE = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa"{marker})
def test_lora(cegi):
    cegi.trainable_params = 1000
    with cegi.measure():
        pass
    cegi.record_score(0.6)
"""


def _suite(pytester, marker=""):
    pytester.makepyfile(test_x=SUITE.format(marker=marker))


def _out(result) -> str:
    return result.stdout.str() + result.stderr.str()


def _usage_error(result, *patterns):
    out = _out(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert "INTERNALERROR" not in out and "Traceback" not in out
    for p in patterns:
        assert p in out, f"{p!r} not in output:\n{out}"


# -- [tool] tables in a budget file ---------------------------------------------------------


def test_tool_cegi_table_beside_top_level_budgets_is_an_error(pytester, run):
    _suite(pytester)
    pytester.makefile(".toml", budget="[tool.cegi]\n\n[[budget]]\nmatch = '*'\nfloor = 0.9\n")
    _usage_error(run("--cegi-budget=budget.toml"), "budget.toml", "[tool.cegi]", "top-level keys (budget)")


def test_another_tools_table_does_not_hide_top_level_budgets(pytester, run):
    _suite(pytester)
    pytester.makefile(".toml", budget="[tool.black]\nline-length = 100\n\n[[budget]]\nmatch = '*lora'\nfloor = 0.9\n")
    result = run("--cegi-budget=budget.toml")
    result.assert_outcomes(passed=1, failed=1)
    assert "score 0.6 < floor 0.9 (budget.toml budget #1)" in _out(result)


@pytest.mark.parametrize("where", ["budget", "pyproject"])
def test_tool_that_is_not_a_table_is_an_error(pytester, run, where):
    _suite(pytester)
    if where == "budget":
        pytester.makefile(".toml", budget="tool = 3\n")
        _usage_error(run("--cegi-budget=budget.toml"), "budget.toml", "'tool' must be a table")
    else:
        pytester.makefile(".toml", pyproject="[tool]\ncegi = 3\n")
        _usage_error(run(), "pyproject.toml", "[tool.cegi] must be a table")


# -- budget entries that match nothing ----------------------------------------------------


@pytest.mark.parametrize(
    "entry, shown",
    [
        ("match = 'test_x.py::test_lroa'", "match = 'test_x.py::test_lroa'"),
        ("match = ''", "match = ''"),
        ("task = 'qa-typo'", "task = 'qa-typo'"),
    ],
)
def test_an_entry_matching_no_test_is_reported(pytester, run, entry, shown):
    _suite(pytester)
    pytester.makefile(".toml", pyproject=f"[[tool.cegi.budget]]\n{entry}\nfloor = 0.99\n")
    result = run("--cegi-budget", "--cegi-report=r.md", "--cegi-save=run.json")
    result.assert_outcomes(passed=2)
    out = _out(result)
    assert "cegi: WARNING pyproject.toml budget #1" in out and "matches no test in this run" in out
    assert shown in out
    report = (pytester.path / "r.md").read_text()
    assert "> [!WARNING]" in report and "pyproject.toml budget #1" in report and "matches no test" in report
    assert any("matches no test" in w for w in json.loads((pytester.path / "run.json").read_text())["warnings"])


def test_a_matching_entry_gives_no_warning(pytester, run):
    _suite(pytester)
    pytester.makefile(".toml", pyproject="[[tool.cegi.budget]]\nmatch = '*lora'\nfloor = 0.1\n")
    result = run("--cegi-budget")
    result.assert_outcomes(passed=2)
    assert "matches no test" not in _out(result)


# -- phases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["['inferance']", "'fintune'", "['inference', 'Finetune']"])
def test_a_misspelt_phase_is_a_usage_error(pytester, run, value):
    _suite(pytester)
    pytester.makefile(".toml", pyproject=f"[[tool.cegi.budget]]\nmatch = '*'\nphases = {value}\n")
    _usage_error(run(), "pyproject.toml budget #1: key 'phases'", "unknown phase", "did you mean")


def test_a_misspelt_phase_in_a_marker_is_a_usage_error(pytester, run):
    _suite(pytester, marker=", phases=['inferance']")
    _usage_error(run(), "@pytest.mark.cegi", "key 'phases'", "did you mean 'inference'")


def test_a_phase_the_test_did_not_measure_is_invalid_not_zero(pytester, run):
    """phases="finetune" on an inference-only test made E = 0, passing every limit."""
    _suite(pytester, marker=", phases='finetune', ceiling=1e-30, max_emissions='1 ng'")
    result = run("--cegi-budget", "--cegi-save=run.json")
    result.assert_outcomes(passed=1, failed=1)
    out = _out(result)
    assert "phases names 'finetune' but the test measured no such window (measured: inference)" in out
    records = {r["variant"]: r for r in json.loads((pytester.path / "run.json").read_text())["records"]}
    assert records["test_lora"]["verdict"] == "invalid"


def test_a_custom_phase_the_test_measures_is_fine(pytester, run):
    pytester.makepyfile(
        test_c="""
import pytest

@pytest.mark.cegi(task="c", reference=True, phases=["preprocess"])
def test_custom(cegi):
    with cegi.measure(phase="preprocess"):
        pass
    cegi.record_score(0.5)
"""
    )
    run("--cegi-budget").assert_outcomes(passed=1)


# -- country ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ÄÖÜ", "US", "U1A", "USAA"])
def test_a_non_iso3_country_is_a_usage_error(pytester, run, code):
    _suite(pytester)
    _usage_error(run(f"--cegi-country={code}"), "--cegi-country", "3-letter ISO 3166")


def test_an_unknown_country_warns_and_names_the_fallback(pytester, run):
    pytest.importorskip("codecarbon")
    _suite(pytester)
    result = run("--cegi-country=ZZZ", "--cegi-report=r.md", "--cegi-save=run.json")
    result.assert_outcomes(passed=2)
    out = _out(result)
    assert "cegi: WARNING codecarbon has no grid data for country ZZZ (from --cegi-country)" in out
    assert "world-average factor 475" in out
    report = (pytester.path / "r.md").read_text()
    assert "no grid data for country ZZZ" in report
    assert "codecarbon's offline grid data" not in report  # the old, false claim
    method = json.loads((pytester.path / "run.json").read_text())["meter"]
    assert method["carbon_factor_g_per_kwh"] == 475.0 and "world average" in method["carbon_factor_source"]


def test_a_known_country_gives_no_warning(pytester, run):
    pytest.importorskip("codecarbon")
    _suite(pytester)
    result = run("--cegi-country=deu")
    result.assert_outcomes(passed=2)
    assert "no grid data" not in _out(result)


def test_the_flag_beats_a_pyproject_carbon_factor_of_the_other_kind(pytester, run):
    """--cegi-country over pyproject's carbon_intensity (and the reverse): the command
    line wins, as for every option; the flag is never silently ignored."""
    pytest.importorskip("codecarbon")
    _suite(pytester)
    pytester.makepyprojecttoml("[tool.cegi]\ncarbon_intensity = 400\n")
    header = [line for line in _out(run("--cegi-country=ZZZ")).splitlines() if line.startswith("cegi: meter")]
    assert header and "ZZZ" in header[0] and "400" not in header[0], header
    pytester.makepyprojecttoml('[tool.cegi]\ncountry = "DEU"\n')
    header = [line for line in _out(run("--cegi-carbon-intensity=123")).splitlines() if line.startswith("cegi: meter")]
    assert header and "123" in header[0] and "DEU" not in header[0], header


def test_a_bad_flag_value_names_the_flag_only(pytester, run):
    _suite(pytester)
    out = _out(run("--cegi-carbon-intensity=-5"))
    assert "--cegi-carbon-intensity: carbon intensity must be positive" in out
    assert "key 'value'" not in out


# -- negative limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "toml, expected",
    [
        ("ceiling = -1.0", "key 'ceiling'"),
        ("ceiling = '-1e-6'", "key 'ceiling'"),
        ("max_emissions = '-1 g'", "key 'max_emissions'"),
        ("max_energy = -0.1", "key 'max_energy'"),
    ],
)
def test_a_negative_limit_is_a_usage_error(pytester, run, toml, expected):
    _suite(pytester)
    pytester.makefile(".toml", pyproject=f"[[tool.cegi.budget]]\nmatch = '*'\n{toml}\n")
    _usage_error(run(), "pyproject.toml budget #1", expected, "must not be negative")


def test_a_negative_ceiling_in_a_marker_is_a_usage_error(pytester, run):
    _suite(pytester, marker=", ceiling=-5e-05")
    _usage_error(run(), "@pytest.mark.cegi", "key 'ceiling'", "must not be negative")


# -- hostile budget files -----------------------------------------------------------------


def test_a_deeply_nested_budget_file_is_a_usage_error(pytester, run):
    _suite(pytester)
    pytester.makefile(".toml", budget="a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    _usage_error(run("--cegi-budget=budget.toml"), "budget.toml", "nested too deeply")


def test_a_budget_file_that_is_a_fifo_is_refused_without_blocking(pytester, run):
    import os

    _suite(pytester)
    os.mkfifo(pytester.path / "budget.toml")
    _usage_error(run("--cegi-budget=budget.toml"), "budget.toml", "not a regular file")
