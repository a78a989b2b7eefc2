"""JUnit properties, the standalone --cegi-junit file and the --cegi-save JSON."""

import json
import xml.etree.ElementTree as ET

import pytest
from cegi_suites import CONTRACT_PROPERTIES, TASK_SUITE


def _properties(junit_path):
    root = ET.parse(junit_path).getroot()
    out = {}
    for case in root.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        out[case.get("name")] = (props, case.find("failure") is not None)
    return out


def test_junitxml_carries_contract_properties(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE)
    # The figures are in testcases only where the family allows them (not xunit2, the default).
    run("--cegi-budget", "--junitxml=junit.xml", "-o", "junit_family=xunit1")
    cases = _properties(pytester.path / "junit.xml")
    good, failed = cases["test_candidate[good]"]
    assert set(good) >= CONTRACT_PROPERTIES and not failed
    assert good["cegi.task"] == "qa" and good["cegi.variant"] == "good"
    assert float(good["cegi.score"]) == pytest.approx(0.6)
    assert float(good["cegi.reference_score"]) == pytest.approx(0.5)
    assert float(good["cegi.gain_pct"]) == pytest.approx(20.0)
    assert float(good["cegi.value"]) == pytest.approx(4.75e-7 / (20 * 0.001))
    assert good["cegi.verdict"] == "pass" and good["cegi.meter"] == "fake (estimate)"
    bad, failed = cases["test_candidate[bad]"]
    assert bad["cegi.verdict"] == "fail" and failed
    assert bad["cegi.value"] == ""  # undefined CEGI is empty, not 0


def test_standalone_junit_has_one_testcase_per_check(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE)
    run("--cegi-junit=out/checks.xml")
    root = ET.parse(pytester.path / "out" / "checks.xml").getroot()
    cases = [(c.get("classname"), c.get("name"), c.find("failure")) for c in root.iter("testcase")]
    names = {(cls, name) for cls, name, _ in cases}
    assert names == {
        ("test_suite.py::test_candidate[good]", "floor"),
        ("test_suite.py::test_candidate[good]", "ceiling"),
        ("test_suite.py::test_candidate[bad]", "floor"),
        ("test_suite.py::test_candidate[bad]", "ceiling"),
    }
    failures = {(cls, name): f.get("message") for cls, name, f in cases if f is not None}
    assert failures == {
        ("test_suite.py::test_candidate[bad]", "floor"): "score 0.3 < floor 0.4 (marker)",
        (
            "test_suite.py::test_candidate[bad]",
            "ceiling",
        ): "CEGI undefined: no gain over reference (-40%) (ceiling 0.001, marker)",
    }


def test_saved_json_is_versioned_and_complete(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE)
    run("--cegi-save=out/run.json")
    run_file = json.loads((pytester.path / "out" / "run.json").read_text())
    assert run_file["schema"] == "pytest-cegi/run" and run_file["schema_version"] == 2
    assert {"hostname", "platform", "python", "cpu"} <= set(run_file["machine"])
    assert run_file["meter"]["meter"] == "fake" and run_file["meter"]["estimate"] is True
    assert "pytest" in run_file["packages"] and "pytest-cegi" in run_file["packages"]
    records = {r["variant"]: r for r in run_file["records"]}
    assert set(records) == {"test_base", "good", "bad"}
    good = records["good"]
    assert good["phases"]["inference"]["energy_kwh"] == pytest.approx(1e-6)
    assert good["windows"][0]["method"]["carbon_factor_g_per_kwh"] == 475.0
    assert [c["limit"] for c in good["checks"]] == ["floor", "ceiling"]
    assert records["test_base"]["reference"] is True
    assert not list((pytester.path / "out").glob("*.tmp")), "atomic write left a temporary file"


def test_save_to_unwritable_place_is_reported_not_a_crash(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE)
    (pytester.path / "blocker").write_text("a file, not a folder")
    result = run("--cegi-save=blocker/run.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*pytest-cegi: could not write results*"])
    assert "INTERNALERROR" not in result.stdout.str()
