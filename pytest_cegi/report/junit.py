"""JUnit output: properties on pytest's own --junitxml testcases, and the standalone
--cegi-junit file with one testcase per budget check."""

from __future__ import annotations

import math
import os

from pytest_cegi.core.run import Run, SavedRecord
from pytest_cegi.core.run_file import atomic_write_text


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
    if record.variant_meta:
        props += [
            ("cegi.total_params", _num(record.total_params)),
            ("cegi.quantization", record.quantization or "none"),
            ("cegi.lora_rank", _num(record.lora_rank)),
            ("cegi.cached", "true" if record.cached else "false"),
        ]
    return props


def write_checks(path: str | os.PathLike[str], run: Run) -> None:
    """One testcase per budget check; violated checks are failures, invalid ones errors."""
    from junit_xml import TestCase, TestSuite, to_xml_report_string

    cases = []
    for saved in run.records:
        r = saved.record
        for check in r.checks:
            case = TestCase(name=check.limit, classname=r.nodeid, elapsed_sec=r.duration_s or 0.0)
            detail = f"value={check.value} threshold={check.threshold} source={check.source}"
            if check.status == "fail":
                case.add_failure_info(message=check.message, output=detail)
            elif check.status == "invalid":
                case.add_error_info(message=check.message, output=detail)
            cases.append(case)
    suite = TestSuite("pytest-cegi budgets", cases)
    atomic_write_text(path, to_xml_report_string([suite], encoding="utf-8"))
