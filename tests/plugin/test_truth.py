"""What the reports tell the user must be true (issue 13): CEGI of a model used as
is, crashed tests, lifted limits, limit sources, units, gain in points."""

import json
import xml.etree.ElementTree as ET

import pytest

SUITE = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.50, metric="accuracy")

@pytest.mark.cegi(task="qa", ceiling=1e-9, floor=0.1)
@pytest.mark.parametrize("tm", [0, 1000], ids=["int8", "lora"])
def test_variant(cegi, tm):
    cegi.trainable_params = tm
    with cegi.measure():
        pass
    cegi.record_score(0.60, metric="accuracy")
"""


def saved(pytester) -> dict:
    run = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    return {r["variant"]: r for r in run["records"]}


def test_nothing_trained_is_not_applicable_and_no_ceiling_applies(pytester, run):
    """T_M = 0: CEGI n/a, the (tiny) ceiling does not fail it; the trained one still fails it."""
    pytester.makepyfile(test_suite=SUITE)
    result = run("--cegi-budget", "--cegi-save=run.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_variant[[]lora[]]*", "CEGI 2.38e-05 > ceiling 1.00e-09 (marker)"])
    result.stdout.fnmatch_lines(["qa*int8*0.6 accuracy*+20%*0*n/a (nothing trained)*23.8 µg/%*ceiling 1e-09 n/a*pass"])
    records = saved(pytester)
    int8 = records["int8"]
    assert int8["cegi"] is None and int8["cegi_applicable"] is False
    assert int8["cegi_reason"] == "n/a (nothing trained)"
    assert int8["carbon_per_gain"] == pytest.approx(4.75e-7 / 20)  # still shown: E / dP
    assert [c["limit"] for c in int8["checks"]] == ["floor"]  # no ceiling check at all
    assert records["lora"]["cegi_applicable"] is True


def test_undefined_cegi_of_a_trained_variant_under_a_ceiling_still_fails(pytester, run):
    pytester.makepyfile(test_suite=SUITE.replace("0.60", "0.40"))  # no gain over 0.50
    result = run("--cegi-budget", "-k", "lora or base")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*CEGI undefined: no gain over reference (-20%) (ceiling 1e-09, marker)*"])


CRASH = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa", floor=0.4, ceiling=1.0)
def test_crash(cegi):
    raise RuntimeError("model directory is missing")
"""


@pytest.mark.parametrize("budget", [[], ["--cegi-budget"]], ids=["report-only", "enforced"])
def test_a_test_that_raised_shows_error_not_pass(pytester, run, budget):
    pytester.makepyfile(test_suite=CRASH)
    result = run(
        *budget, "--junitxml=junit.xml", "-o", "junit_family=xunit1", "--cegi-junit=checks.xml", "--cegi-save=run.json"
    )
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["qa*test_crash*error"])
    result.stdout.fnmatch_lines(
        [
            "test_suite.py::test_crash [[]error[]]: the test raised RuntimeError: model directory "
            "is missing before measuring anything*"
        ]
    )
    assert "call cegi.record_score" not in out  # the floor does not hide the exception
    assert "RuntimeError: model directory is missing" in out  # pytest's own traceback is kept
    record = saved(pytester)["test_crash"]
    assert record["verdict"] == "error" and record["error"] == "RuntimeError: model directory is missing"
    props = {
        p.get("name"): p.get("value")
        for p in ET.parse(pytester.path / "junit.xml").iter("property")
        if p.get("name") == "cegi.verdict"
    }
    tree = ET.parse(pytester.path / "junit.xml")
    verdicts = {
        tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")}["cegi.verdict"]
        for tc in tree.iter("testcase")
    }
    assert verdicts == {"test_base": "pass", "test_crash": "error"}, props
    checks = ET.parse(pytester.path / "checks.xml")
    errors = [tc.get("classname") for tc in checks.iter("testcase") if tc.find("error") is not None]
    assert errors == ["test_suite.py::test_crash"]


LIFT = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa", ceiling=1e-12, floor=0.9)
@pytest.mark.parametrize("name", ["lora-r4", "lora-r16"])
def test_lora(cegi, name):
    cegi.trainable_params = 1000
    with cegi.measure():
        pass
    cegi.record_score(0.6)
"""


def test_false_lifts_a_marker_limit_and_reports_say_where_each_came_from(pytester, run):
    pytester.makepyfile(test_suite=LIFT)
    pytester.makepyprojecttoml("""
        [tool.cegi]
        [[tool.cegi.budget]]
        match = "test_suite.py::test_lora[lora-r16]"
        ceiling = false
        floor = 0.55
    """)
    result = run("--cegi-budget", "--cegi-save=run.json", "--cegi-report=report.md")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_suite.py::test_lora[[]lora-r4[]] - score 0.6 < floor 0.9 (marker)"])
    records = saved(pytester)
    r16 = records["lora-r16"]
    assert [c["limit"] for c in r16["checks"]] == ["floor"]
    assert r16["limits"] == {
        "floor": {"value": 0.55, "source": "pyproject.toml budget #1"},
        "ceiling": {"value": None, "source": "pyproject.toml budget #1"},
    }
    report = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert "floor 0.55 (pyproject.toml budget #1); ceiling lifted (pyproject.toml budget #1)" in report
    assert "floor 0.9 (marker); ceiling 1e-12 (marker)" in report
    # natural order: lora-r4 before lora-r16 in the terminal table
    out = result.stdout.str()
    assert out.index("lora-r4 ") < out.index("lora-r16 ")


@pytest.mark.parametrize("value", ["false", '"off"'])
def test_false_only_where_it_means_no_limit(pytester, run, value):
    """`false` is not a value for gain; a string is not `false`."""
    pytester.makepyfile(test_suite=LIFT)
    pytester.makepyprojecttoml(f"""
        [tool.cegi]
        [[tool.cegi.budget]]
        match = "*"
        gain = {value}
    """)
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml budget #1: key 'gain'*"])


def test_max_regression_lifted_per_quantity(pytester, run):
    pytester.makepyfile(test_suite=LIFT)
    pytester.makepyprojecttoml("""
        [tool.cegi]
        [[tool.cegi.budget]]
        match = "*"
        max_regression = { emissions = false, score = "0.2" }
    """)
    run("--cegi-save=run.json").assert_outcomes(passed=3)
    r4 = saved(pytester)["lora-r4"]
    assert r4["max_regression"] == {"emissions": None, "score": "0.2"}
    assert r4["max_regression_source"] == "pyproject.toml budget #1"


MICRO = """
import pytest

@pytest.mark.cegi(task="qa", max_emissions="{limit}")
def test_one(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)
"""


@pytest.mark.parametrize("limit", ["100 \u00b5g", "100 \u03bcg", "100 ug"])
def test_micrograms_in_every_spelling(pytester, run, limit):
    """The fake window emits 475 µg: 100 µg (however µ is typed) is exceeded."""
    pytester.makepyfile(test_suite=MICRO.replace("{limit}", limit))
    result = run("--cegi-budget")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*emissions 475 µg > max_emissions 100 µg (marker)*"])


POINTS = """
import pytest

@pytest.mark.cegi(task="qa", reference=True, gain="points")
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.50)

@pytest.mark.cegi(task="qa", gain="points")
def test_tuned(cegi):
    cegi.trainable_params = 1000
    with cegi.measure():
        pass
    cegi.record_score(0.532)
"""


def test_points_print_as_points(pytester, run):
    pytester.makepyfile(test_suite=POINTS)
    result = run("--cegi-report=report.md")
    result.stdout.fnmatch_lines(["qa*test_tuned*+3.2 pts*"])
    assert "+3.2%" not in result.stdout.str()
    report = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert "| +3.2 pts |" in report and "per (point x M trained params)" in report


BASELINE_SUITE = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.50)
"""


def test_default_tolerances_name_their_true_source(pytester, run):
    """No max_regression configured: the source is "default", not [tool.cegi]."""
    pytester.makepyfile(test_suite=BASELINE_SUITE)
    run("--cegi-save=base.json").assert_outcomes(passed=1)
    data = json.loads((pytester.path / "base.json").read_text(encoding="utf-8"))
    data["records"][0]["score"] = 0.9
    (pytester.path / "base.json").write_text(json.dumps(data), encoding="utf-8")
    result = run("--cegi-budget", "--cegi-baseline=base.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*score 0.9 -> 0.5 (-0.4) exceeds tolerance 0.01 (default)*"])
    assert "[tool.cegi] max_regression" not in result.stdout.str()


def test_configured_tolerances_name_the_file(pytester, run):
    pytester.makepyfile(test_suite=BASELINE_SUITE)
    pytester.makepyprojecttoml('[tool.cegi]\nmax_regression = { score = "0.1" }\n')
    run("--cegi-save=base.json").assert_outcomes(passed=1)
    data = json.loads((pytester.path / "base.json").read_text(encoding="utf-8"))
    data["records"][0]["score"] = 0.9
    (pytester.path / "base.json").write_text(json.dumps(data), encoding="utf-8")
    result = run("--cegi-budget", "--cegi-baseline=base.json")
    result.stdout.fnmatch_lines(["*exceeds tolerance 0.1 (pyproject.toml [[]tool.cegi[]] max_regression)*"])
