"""JUnit output: properties on pytest's own --junitxml testcases, and the standalone
--cegi-junit file with one testcase per budget check."""

from __future__ import annotations

from pytest_cegi.core.run_file import atomic_write_text


def _num(value) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def properties(record: dict) -> list[tuple[str, str]]:
    """The contract's cegi.* properties for one measured test."""
    method = record.get("method") or {}
    props = [
        ("cegi.task", record["task"]),
        ("cegi.variant", record["variant"]),
        ("cegi.metric", record.get("metric") or ""),
        ("cegi.score", _num(record.get("score"))),
        ("cegi.reference_score", _num(record.get("reference_score"))),
        ("cegi.gain_pct", _num(record.get("gain_pct"))),
        ("cegi.trainable_params", _num(record.get("trainable_params"))),
        ("cegi.energy_kwh", _num(record.get("energy_kwh"))),
        ("cegi.emissions_kg", _num(record.get("emissions_kg"))),
        ("cegi.duration_s", _num(record.get("duration_s"))),
        ("cegi.value", _num(record.get("cegi"))),
        ("cegi.meter", f"{method.get('meter', '')}{' (estimate)' if record.get('estimate') else ''}"),
        ("cegi.verdict", record["verdict"]),
    ]
    if record.get("variant_meta"):
        props += [
            ("cegi.total_params", _num(record.get("total_params"))),
            ("cegi.quantization", record.get("quantization") or "none"),
            ("cegi.lora_rank", _num(record.get("lora_rank"))),
            ("cegi.cached", "true" if record.get("cached") else "false"),
        ]
    return props


def write_checks(path, records: list[dict]) -> None:
    """One testcase per budget check; violated checks are failures, invalid ones errors."""
    from junit_xml import TestCase, TestSuite, to_xml_report_string

    cases = []
    for r in records:
        for check in r.get("checks", []):
            case = TestCase(name=check["limit"], classname=r["nodeid"], elapsed_sec=r.get("duration_s") or 0.0)
            detail = f"value={check['value']} threshold={check['threshold']} source={check['source']}"
            if check["status"] == "fail":
                case.add_failure_info(message=check["message"], output=detail)
            elif check["status"] == "invalid":
                case.add_error_info(message=check["message"], output=detail)
            cases.append(case)
    suite = TestSuite("pytest-cegi budgets", cases)
    atomic_write_text(path, to_xml_report_string([suite], encoding="utf-8"))
