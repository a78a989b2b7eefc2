"""JUnit output: properties on pytest's own --junitxml testcases (in the families whose
schema allows them), and the standalone --cegi-junit file with one testcase per budget
check.

Both must validate against the schema strict consumers use, the Jenkins/Surefire
junit-10.xsd that pytest checks its default family (xunit2) against (pytest's
testing/example_scripts/junit-10.xsd). tests/report/test_junit_schema.py validates
both files with our own statement of its rules (tests/report/schemas/)."""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING

from pytest_cegi.core.record import Record
from pytest_cegi.core.run import Run, SavedRecord
from pytest_cegi.core.run_file import atomic_write_text

if TYPE_CHECKING:
    import pytest

# pytest's junit_family values whose testcases may hold <properties>; "legacy" is
# pytest's other name for xunit1. xunit2, the default, forbids them.
PROPERTY_FAMILIES = ("xunit1", "legacy")

XUNIT2_NOTE = (
    "cegi: --junitxml has no cegi.* figures: junit_family=xunit2 (pytest's default) allows no "
    "<properties> in a testcase. For them in JUnit: -o junit_family=xunit1; every figure is in "
    "--cegi-save=FILE.json, and --cegi-junit=FILE.xml has one testcase per budget check."
)


def testcase_properties_allowed(family: str) -> bool:
    """Whether pytest's --junitxml in this junit_family may carry per-test properties."""
    return family in PROPERTY_FAMILIES


def _num(value: float | None) -> str:
    """ "" for no figure, as for one JSON cannot hold (inf, NaN), which a run saves as null."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def properties(saved: SavedRecord) -> list[tuple[str, str]]:
    """The contract's cegi.* properties for one measured test."""
    record, method = saved.record, saved.record.method
    props = [
        ("cegi.task", record.task),
        ("cegi.variant", record.variant),
        ("cegi.metric", record.metric or ""),
        ("cegi.score", _num(record.score)),
        ("cegi.reference_score", _num(record.reference_score)),
        ("cegi.gain_pct", _num(record.gain_pct)),
        ("cegi.trainable_params", _num(record.trainable_params)),
        ("cegi.energy_kwh", _num(saved.energy_kwh)),
        ("cegi.emissions_kg", _num(saved.emissions_kg)),
        ("cegi.duration_s", _num(record.duration_s)),
        ("cegi.value", _num(record.cegi)),
        ("cegi.meter", f"{method.meter if method else ''}{' (estimate)' if saved.estimate else ''}"),
        ("cegi.verdict", record.verdict),
    ]
    if record.modelled_energy_kwh is not None:  # modelled from counted work, beside the measured
        props += [
            ("cegi.modelled_energy_kwh", _num(record.modelled_energy_kwh)),
            ("cegi.modelled_emissions_kg", _num(record.modelled_emissions_kg)),
            ("cegi.modelled_by", record.modelled_by or ""),
        ]
    if record.variant_meta:
        props += [
            ("cegi.total_params", _num(record.total_params)),
            ("cegi.quantization", record.quantization or "none"),
            ("cegi.lora_rank", _num(record.lora_rank)),
            ("cegi.cached", "true" if record.cached else "false"),
        ]
    return props


def seconds_run(record: Record) -> float:
    """The time a test spent in its measured windows in this run: every window, each
    repeat counted (a window stores one repeat's mean), adapter-cache replays left out
    (their duration is the original fine-tune's, not this run's)."""
    total = 0.0
    for w in record.windows:
        if w.cached or not isinstance(w.duration_s, (int, float)) or not math.isfinite(w.duration_s):
            continue
        total += max(w.duration_s, 0.0) * max(len(w.samples), 1)
    return total


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _seconds(ms: int) -> str:
    """Milliseconds as the schema's time: a plain decimal with three decimals at most."""
    return f"{ms // 1000}.{ms % 1000:03d}"


# Characters XML 1.0 cannot hold, even escaped; written as pytest's junitxml does (#x1B).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: object) -> str:
    return _NOT_XML.sub(lambda m: f"#x{ord(m.group()):02X}", str(text))


def write_checks(path: str | os.PathLike[str], run: Run) -> None:
    """One testcase per budget check; violated checks are failures, invalid ones errors.

    Written with xml.etree rather than the junit-xml package, which adds a `disabled`
    attribute the schema forbids and writes times with six or more decimals: what the
    file holds is then exactly what the schema allows, with nothing to undo afterwards.

    Time: a check takes none of its own, so each test's time spent measuring in this run
    (`seconds_run`) is shared equally among its checks. The suite's time is the sum of
    its testcases' times, so each test is counted once: the measured tests' time, not
    the session's wall time (collection, model loading and unmeasured tests are not in
    it). The file used to give every check the test's whole duration, which counted a
    test once per check and so added up to more than the session lasted."""
    import xml.etree.ElementTree as ET

    cases: list[ET.Element] = []
    counts = {"failures": 0, "errors": 0}
    total_ms = 0
    for saved in run.records:
        r = saved.record
        if not r.checks:
            continue
        # Whole milliseconds, the remainder to the first checks: the shares add up to
        # the test's time exactly.
        share_ms, extra = divmod(_ms(seconds_run(r)), len(r.checks))
        for i, check in enumerate(r.checks):
            case_ms = share_ms + (1 if i < extra else 0)
            total_ms += case_ms
            case = ET.Element(
                "testcase",
                {"name": _xml_text(check.limit), "classname": _xml_text(r.nodeid), "time": _seconds(case_ms)},
            )
            detail = f"value={check.value} threshold={check.threshold} source={check.source}"
            result = {"fail": ("failure", "failures"), "invalid": ("error", "errors")}.get(check.status)
            if result is not None:
                tag, count = result
                counts[count] += 1
                element = ET.SubElement(case, tag, {"type": tag, "message": _xml_text(check.message)})
                element.text = _xml_text(detail)
            cases.append(case)
    totals = {"tests": str(len(cases)), "failures": str(counts["failures"]), "errors": str(counts["errors"])}
    root = ET.Element("testsuites", {"name": "pytest-cegi budgets", **totals, "time": _seconds(total_ms)})
    suite = ET.SubElement(
        root, "testsuite", {"name": "pytest-cegi budgets", **totals, "skipped": "0", "time": _seconds(total_ms)}
    )
    if run.created:
        suite.set("timestamp", run.created)
    suite.extend(cases)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    atomic_write_text(path, f'<?xml version="1.0" encoding="utf-8"?>\n{text}\n')


def forbids_properties(config: pytest.Config) -> bool:
    """Whether this session writes --junitxml in a family whose schema forbids
    <properties> in a testcase (xunit2, pytest's default): pytest writes every
    user_property there, so the cegi.* ones are left out. Other plugins' and tests'
    user_properties are theirs to place, and stay. Without --junitxml the figures
    stay too, for other consumers of user_properties (--report-log, pytest-html)."""
    if not getattr(config.option, "xmlpath", None):
        return False
    return not testcase_properties_allowed(config.getini("junit_family"))
