"""JUnit output validates against the schema strict consumers use (issue 20).

pytest's own suite validates its default family (xunit2) against the Jenkins/Surefire
`junit-10.xsd` (pytest-dev/pytest, testing/example_scripts/junit-10.xsd). The schemas
in tests/report/schemas/ are our own statement of its rules, plus an xunit1 variant;
each test runs a real pytest session and validates the files it wrote.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from cegi_suites import CONTRACT_PROPERTIES, TASK_SUITE

from pytest_cegi.core.run import Run
from pytest_cegi.report import junit

SCHEMAS = Path(__file__).parent / "schemas"
XUNIT2 = xmlschema.XMLSchema(str(SCHEMAS / "xunit2.xsd"))
XUNIT1 = xmlschema.XMLSchema(str(SCHEMAS / "xunit1.xsd"))

# A reference, a candidate that passes, one that breaks both limits, one whose floor
# cannot be evaluated (no score: an invalid check, an <error> in --cegi-junit), and a
# test the plugin does not measure.
SUITE = (
    TASK_SUITE
    + """

@pytest.mark.cegi(task="qa", floor=0.40)
def test_no_score(cegi):
    with cegi.measure():
        pass

def test_plain():
    pass
"""
)

# A measured test that records a property of its own.
OWN_PROPERTY = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi, record_property):
    record_property("owner", "team-a")
    with cegi.measure():
        pass
    cegi.record_score(0.50, metric="accuracy")
"""


def _run(pytester, *args):
    return pytester.runpytest("-p", "no:cacheprovider", "--cegi-meter=fake", *args)


def _errors(schema, path) -> list[str]:
    return [f"{e.path}: {e.reason}" for e in schema.iter_errors(str(path))]


def _testcase_properties(path) -> dict[str, dict[str, str]]:
    return {
        tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")}
        for tc in ET.parse(path).iter("testcase")
    }


# -- the schemas reject what strict consumers reject --------------------------------------------

VALID = (
    '<testsuites name="s" tests="1" failures="0" errors="0" time="1,234.5">'
    '<testsuite name="s" tests="1" failures="0" errors="0" skipped="0" time="12.345">'
    '<testcase name="t" classname="c" time="0.0001"><error type="error" message="m">x</error></testcase>'
    "</testsuite></testsuites>"
)


@pytest.mark.parametrize(
    "broken, reason",
    [
        (VALID.replace('<testsuites name="s"', '<testsuites disabled="0" name="s"'), "disabled"),
        (VALID.replace('<testsuite name="s"', '<testsuite disabled="0" name="s"'), "disabled"),
        (VALID.replace('time="12.345"', 'time="12.3456"'), "12.3456"),
        (VALID.replace('time="12.345"', 'time="1e-05"'), "1e-05"),
        (VALID.replace('time="1,234.5"', 'time="1.23457789"'), "1.23457789"),
        (VALID.replace(' errors="0" skipped', " skipped"), "errors"),
    ],
    ids=["disabled-on-testsuites", "disabled-on-testsuite", "four-decimals", "exponent", "eight-decimals", "no-errors"],
)
def test_the_schemas_reject_what_junit_10_rejects(broken, reason):
    assert XUNIT2.is_valid(VALID) and XUNIT1.is_valid(VALID)
    for schema in (XUNIT2, XUNIT1):
        errors = list(schema.iter_errors(broken))
        assert errors and reason in str(errors[0])


def test_properties_in_a_testcase_are_xunit1_only():
    props = '<properties><property name="cegi.task" value="qa"/></properties>'
    doc = VALID.replace('time="0.0001">', f'time="0.0001" file="t.py" line="3">{props}')
    assert XUNIT1.is_valid(doc)
    assert not XUNIT2.is_valid(doc)
    assert not XUNIT2.is_valid(VALID.replace('time="0.0001">', f'time="0.0001">{props}'))


# -- pytest's --junitxml --------------------------------------------------------------------------


def test_junitxml_default_family_is_valid_and_notes_once(pytester):
    pytester.makepyfile(test_suite=SUITE)
    result = _run(pytester, "--cegi-budget", "--junitxml=junit.xml")
    assert result.parseoutcomes()["failed"] >= 1  # the bad candidate fails its budget
    assert _errors(XUNIT2, pytester.path / "junit.xml") == []
    cases = _testcase_properties(pytester.path / "junit.xml")
    assert set(cases) == {"test_base", "test_candidate[good]", "test_candidate[bad]", "test_no_score", "test_plain"}
    assert all(props == {} for props in cases.values()), cases
    assert result.stdout.str().count(junit.XUNIT2_NOTE) == 1
    result.stdout.fnmatch_lines(["cegi: --junitxml has no cegi.* figures: junit_family=xunit2*"])


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_junitxml_xunit1_carries_the_figures_and_is_valid(pytester, family):
    pytester.makepyfile(test_suite=SUITE)
    result = _run(pytester, "--cegi-budget", "--junitxml=junit.xml", "-o", f"junit_family={family}")
    assert _errors(XUNIT1, pytester.path / "junit.xml") == []
    cases = _testcase_properties(pytester.path / "junit.xml")
    assert set(cases["test_candidate[good]"]) >= CONTRACT_PROPERTIES
    assert cases["test_candidate[bad]"]["cegi.verdict"] == "fail"
    assert cases["test_plain"] == {}  # not measured: no figures
    assert junit.XUNIT2_NOTE not in result.stdout.str()


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_a_tests_own_properties_stay(pytester, family):
    pytester.makepyfile(test_suite=OWN_PROPERTY)
    _run(pytester, "--junitxml=junit.xml", "-o", f"junit_family={family}").assert_outcomes(passed=1)
    props = _testcase_properties(pytester.path / "junit.xml")["test_base"]
    assert props["owner"] == "team-a"  # pytest writes it in either family; not ours to move
    assert ("cegi.verdict" in props) == (family == "xunit1")


def test_no_note_without_junitxml(pytester):
    pytester.makepyfile(test_suite=SUITE)
    result = _run(pytester, "--cegi-junit=checks.xml")
    assert junit.XUNIT2_NOTE not in result.stdout.str()


def test_junitxml_under_xdist_is_valid_and_notes_once(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--cegi-meter=fake", "-n", "2", "--junitxml=junit.xml"
    )
    assert _errors(XUNIT2, pytester.path / "junit.xml") == []
    assert all(props == {} for props in _testcase_properties(pytester.path / "junit.xml").values())
    assert result.stdout.str().count(junit.XUNIT2_NOTE) == 1


# -- the standalone --cegi-junit file -------------------------------------------------------------


def test_cegi_junit_file_is_valid(pytester):
    pytester.makepyfile(test_suite=SUITE)
    _run(pytester, "--cegi-junit=out/checks.xml")
    path = pytester.path / "out" / "checks.xml"
    assert _errors(XUNIT2, path) == []
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    cases = list(suite.iter("testcase"))
    assert [c.find("error") is not None for c in cases].count(True) == 1  # test_no_score's floor
    assert suite.get("errors") == "1" and suite.get("failures") == "2" and suite.get("tests") == str(len(cases))
    assert "disabled" not in root.attrib and "disabled" not in suite.attrib
    for c in cases:  # testcases too, though junit-10.xsd leaves their time free
        whole, _, decimals = c.get("time").partition(".")
        assert whole.isdigit() and len(decimals) == 3
    total_ms = sum(round(float(c.get("time")) * 1000) for c in cases)
    assert round(float(suite.get("time")) * 1000) == total_ms == round(float(root.get("time")) * 1000)


def _window(make, duration_s, *, samples=(), cached=False, phase="inference"):
    import dataclasses

    return dataclasses.replace(make.window(1e-4, phase, samples=samples), duration_s=duration_s, cached=cached)


def test_cegi_junit_time_counts_each_test_once(make, tmp_path):
    """The suite's time is the sum of its testcases' times, and each test's time is
    counted once however many checks it has: its windows this run, every repeat,
    cache replays left out. (It used to be the test's duration once per check.)"""
    from pytest_cegi.core.record import Check, Record

    checks = [Check(limit=lim, threshold=1.0, value=0.5, source="marker", status="pass") for lim in ("a", "b", "c")]

    def record(name, windows):
        return Record(nodeid=f"t.py::{name}", task="qa", variant=name, windows=windows, checks=list(checks))

    records = [
        # 10 s of inference, each of 3 repeats (a window stores one repeat's mean)
        record("repeated", [_window(make, 10.0, samples=(1e-4, 1e-4, 1e-4))]),
        # a fine-tune replayed from the adapter cache took no time in this run
        record("cached", [_window(make, 600.0, cached=True, phase="finetune"), _window(make, 1.0)]),
    ]
    run = Run.from_dict(make.run([r.to_dict() for r in records]))
    junit.write_checks(tmp_path / "checks.xml", run)
    assert _errors(XUNIT2, tmp_path / "checks.xml") == []
    suite = ET.parse(tmp_path / "checks.xml").getroot().find("testsuite")
    times = {(c.get("classname"), c.get("name")): c.get("time") for c in suite.iter("testcase")}
    assert [times[("t.py::repeated", n)] for n in "abc"] == ["10.000"] * 3
    assert [times[("t.py::cached", n)] for n in "abc"] == ["0.334", "0.333", "0.333"]
    assert suite.get("time") == "31.000"


def test_cegi_junit_file_holds_no_character_xml_forbids(make, tmp_path):
    from pytest_cegi.core.record import Check

    name = "evil\x1b[31m\x00name"
    check = Check(limit="floor", threshold=0.9, value=0.1, source=name, status="fail", message=name)
    run = Run.from_dict(make.run([make.record(name, nodeid=f"t.py::{name}", checks=[check], verdict="fail")]))
    junit.write_checks(tmp_path / "j.xml", run)
    assert _errors(XUNIT2, tmp_path / "j.xml") == []
    case = ET.parse(tmp_path / "j.xml").getroot().find("testsuite/testcase")
    assert case.get("classname") == "t.py::evil#x1B[31m#x00name"
