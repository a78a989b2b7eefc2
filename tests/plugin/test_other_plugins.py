"""pytest-cegi beside pytest-rerunfailures, pytest-randomly and pytest-repeat."""

import json
import xml.etree.ElementTree as ET

import pytest

FLAKY = """
import pytest

ATTEMPTS = {"n": 0}

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa", floor=0.4)
def test_flaky(cegi):
    cegi.trainable_params = 1000
    ATTEMPTS["n"] += 1
    with cegi.measure():      # every attempt measures one window: 1e-6 kWh on the fake meter
        pass
    if ATTEMPTS["n"] < 3:
        raise RuntimeError(f"flaky attempt {ATTEMPTS['n']}")
    cegi.record_score(0.6)
"""


def records(pytester, name="run.json") -> list:
    return json.loads((pytester.path / name).read_text(encoding="utf-8"))["records"]


def test_rerunfailures_keeps_one_record_with_its_reruns(pytester, run):
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(test_suite=FLAKY)
    result = run(
        "--reruns",
        "2",
        "--cegi-budget",
        "--cegi-save=run.json",
        "--junitxml=junit.xml",
        "-o",
        "junit_family=xunit1",  # the family whose testcases hold the cegi.* figures
        "--cegi-report=report.md",
    )
    assert result.parseoutcomes() == {"passed": 2, "rerun": 2}
    saved = records(pytester)
    flaky = [r for r in saved if r["variant"] == "test_flaky"]
    assert len(flaky) == 1, [r["nodeid"] for r in saved]  # one record per test: the last attempt
    final = flaky[0]
    assert final["verdict"] == "pass" and final["score"] == 0.6 and len(final["windows"]) == 1
    assert final["reruns"] == 2
    assert final["rerun_energy_kwh"] == pytest.approx(2e-6)  # the two failed attempts' windows
    assert final["energy_kwh"] == pytest.approx(1e-6)  # not counted in its own E
    result.stdout.fnmatch_lines(
        [
            "qa*test_flaky*pass (2 reruns)",
            "*reruns: qa/test_flaky ran 2 time(s) before its final attempt; those attempts spent 7.2 J, 950 µg CO2e*",
        ]
    )
    # One set of cegi.* properties in pytest's JUnit, not one per attempt.
    case = next(tc for tc in ET.parse(pytester.path / "junit.xml").iter("testcase") if tc.get("name") == "test_flaky")
    names = [p.get("name") for p in case.iter("property")]
    assert names.count("cegi.verdict") == 1
    report = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert "✅ pass after 2 reruns (+950 µg not counted)" in report


def test_rerunfailures_final_failure_is_an_error(pytester, run):
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(test_suite=FLAKY.replace("< 3", "< 9"))
    result = run("--reruns", "1", "--cegi-save=run.json")
    assert result.parseoutcomes() == {"passed": 1, "failed": 1, "rerun": 1}
    flaky = [r for r in records(pytester) if r["variant"] == "test_flaky"]
    assert len(flaky) == 1 and flaky[0]["verdict"] == "error" and flaky[0]["reruns"] == 1


ORDERED = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa")
@pytest.mark.parametrize("n", range(8))
def test_candidate(cegi, n):
    cegi.trainable_params = 1000
    with cegi.measure():
        pass
    cegi.record_score(0.6)
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_randomly_still_runs_the_reference_first(pytester, monkeypatch, seed):
    pytest.importorskip("pytest_randomly")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)  # tests/conftest.py turns randomly off
    pytester.makepyfile(test_suite=ORDERED)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--cegi-meter=fake", f"--randomly-seed={seed}", "--cegi-save=run.json"
    )
    result.assert_outcomes(passed=9)
    assert f"Using --randomly-seed={seed}" in result.stdout.str()
    saved = records(pytester)
    assert saved[0]["variant"] == "test_base"  # the reference ran first
    assert all(r["gain_pct"] == pytest.approx(20.0) for r in saved[1:])  # so every candidate has a gain
    order = [r["variant"] for r in saved[1:]]
    assert order != sorted(order, key=lambda v: int(v))  # and the rest really were shuffled


VARIANTS = """
import pytest
from pytest_cegi import Variant

@pytest.mark.cegi(task="qa")
@pytest.mark.parametrize("variant", [Variant("base", "models/none"), Variant("lora", "models/none",
                                      lora={"r": 4})])
def test_variant(cegi, variant):
    cegi.trainable_params = 0 if variant.is_base else 1000
    with cegi.measure():
        pass
    cegi.record_score(0.5 if variant.is_base else 0.6)
"""


def test_repeat_copies_of_the_reference_are_one_reference(pytester, run):
    """pytest-repeat makes three copies of the base; they must not count as three
    candidate references (a usage error before)."""
    pytest.importorskip("pytest_repeat")
    pytester.makepyfile(test_suite=VARIANTS)
    result = run("--count", "3", "--cegi-save=run.json")
    result.assert_outcomes(passed=6)
    saved = records(pytester)
    assert [r["reference"] for r in saved[:3]] == [True] * 3  # every copy of the base, first
    assert all(r["variant"] == "lora" and r["gain_pct"] == pytest.approx(20.0) for r in saved[3:])
    assert len({r["nodeid"] for r in saved}) == 6


def test_two_different_references_are_still_an_error_under_repeat(pytester, run):
    pytest.importorskip("pytest_repeat")
    pytester.makepyfile(
        test_suite=VARIANTS.replace(
            'Variant("lora", "models/none",\n                                      lora={"r": 4})',
            'Variant("other", "models/none")',
        )
    )
    result = run("--count", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*task 'qa' has 4 candidate reference variants*"])
