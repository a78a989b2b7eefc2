"""Deployment projection: per-request emissions x requests per year x units."""

import pytest

from pytest_cegi.core.projection import (
    SECONDS_PER_YEAR,
    DeploymentError,
    parse_deployment,
    project,
    project_run,
)
from pytest_cegi.core.record import Record
from pytest_cegi.core.run import Run, SavedRecord
from pytest_cegi.core.window import Method, Window


def test_requests_per_second_times_units():
    dep = parse_deployment({"requests_per_second": 15, "units": 24e6})
    assert dep.requests_per_year == 15 * SECONDS_PER_YEAR
    assert dep.units == 24e6
    assert dep.text == "15 req/s x 2.4e+07 units"


def test_requests_per_day_and_default_units():
    dep = parse_deployment({"requests_per_day": 1000})
    assert dep.requests_per_year == 365_000 and dep.units == 1


@pytest.mark.parametrize(
    "value,message",
    [
        ({"units": 3}, "exactly one of"),
        ({"requests_per_second": 1, "requests_per_day": 1}, "exactly one of"),
        ({"requests_per_second": -1}, "positive number"),
        ({"requests_per_second": "15"}, "positive number"),
        ({"requests_per_hour": 1}, "unknown key 'requests_per_hour'"),
        ([15], "expected a table"),
    ],
)
def test_invalid_declarations_name_where_and_what(value, message):
    with pytest.raises(DeploymentError, match=message) as info:
        parse_deployment(value, "pyproject.toml budget #2")
    assert str(info.value).startswith("pyproject.toml budget #2")


def test_annual_emissions_from_inference_windows_only(make):
    rec = SavedRecord.from_dict(make.record("lora", energy=1e-4, finetune=5e-2, requests=50))  # 40 mg
    p = project(rec, parse_deployment({"requests_per_second": 15, "units": 2}))
    assert p.per_request_kg == pytest.approx(40e-6 / 50)
    assert p.annual_kg == pytest.approx(40e-6 / 50 * 15 * SECONDS_PER_YEAR * 2)
    assert p.reason is None


def test_missing_request_count_is_explained(make):
    p = project(SavedRecord.from_dict(make.record("lora")), parse_deployment({"requests_per_day": 10}))
    assert p.annual_kg is None and "request count unknown" in p.reason


def test_run_level_deployment_and_record_override(make):
    run = make.run([make.record("a", requests=10), make.record("b", requests=10)], deployment={"requests_per_day": 100})
    run["records"][1]["deployment"] = {"requests_per_day": 200}
    a, b = project_run(Run.from_dict(run))
    assert b.annual_kg == pytest.approx(2 * a.annual_kg)
    assert Run.from_dict(run).projections == (a, b)


def test_no_declaration_no_projection(make):
    assert project_run(Run.from_dict(make.run([make.record("a", requests=10)]))) == []


def test_a_run_is_projected_only_when_asked(make):
    """Typing a run (to compare it) never projects it: a bad declaration is an error
    of the report that shows the projection, not of the comparison."""
    run = make.run([make.record("a", requests=10)], deployment={"requests_per_day": 0})
    typed = Run.from_dict(run)
    with pytest.raises(DeploymentError, match="requests_per_day must be a positive number"):
        _ = typed.projections


def test_compact_models_study_figure_is_a_day_and_the_year_is_365_times_it():
    """The study: 2.298183e-08 kg per run x 15 fps x 86,400 s x 24e6 cameras = 714,826.84 kg,
    which it calls "per year"; the formula gives a day. A year is 365 times that."""
    per_run = 2.298183e-08
    method = Method("fake", "fake", "none", 475.0, "default", True)
    window = Window("inference", 1e-6, per_run * 10, 1.0, method, requests=10)
    rec = SavedRecord(Record("t::detect[v]", "detect", "v", windows=[window]))
    p = project(rec, parse_deployment({"requests_per_second": 15, "units": 24e6}))
    assert p.per_request_kg == pytest.approx(per_run, rel=1e-12)
    assert p.daily_kg == pytest.approx(714_826.84, abs=0.005)
    assert p.annual_kg == pytest.approx(714_826.84 * 365, rel=1e-8)
    assert round(p.annual_kg) == 260_911_797
    assert p.to_dict()["daily_kg"] == p.daily_kg
    assert parse_deployment({"requests_per_second": 15}).requests_per_day == 15 * 86_400
