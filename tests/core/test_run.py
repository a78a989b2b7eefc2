"""The typed run reports take: `Run.from_dict` of a saved run, older files included."""

from pytest_cegi.core.run import Run, saved_method
from pytest_cegi.core.window import Method


def test_meter_is_a_method(make):
    run = Run.from_dict(make.run([make.record("a")]))
    assert run.meter == make.METHOD


def test_an_older_meter_gets_the_defaults_of_fields_it_lacks(make):
    old = make.METHOD.to_dict()
    for key in ("basis", "ram", "carbon_factor_g_per_kwh"):
        del old[key]
    method = saved_method(old)
    assert isinstance(method, Method) and (method.basis, method.ram) == ("machine", "")
    assert method.carbon_factor_g_per_kwh is None and "unknown factor" in method.label()


def test_a_run_without_its_own_meter_takes_a_records(make):
    run = make.run([make.record("a")])
    run["meter"] = None  # older writers saved the meter only on records
    assert Run.from_dict(run).meter == make.METHOD
    assert Run.from_dict(make.run([])).meter is not None  # the run's own meter
    empty = make.run([])
    empty["meter"] = None
    assert Run.from_dict(empty).meter is None


def test_a_non_finite_window_survives_the_round_trip_through_a_dict(make):
    """A record crosses the xdist wire and the run file as a dict, where inf and NaN
    are null; typed again, the window is non-finite (still invalid, totals still
    numbers), not None."""
    import math

    from pytest_cegi.core.record import Record

    data = make.record("lora")
    data["windows"][0]["emissions_kg"] = math.inf
    record = Record.from_dict(data)
    wire = record.to_dict()
    assert wire["windows"][0]["emissions_kg"] is None and wire["emissions_kg"] is None
    again = Record.from_dict(wire)
    assert math.isnan(again.emissions_kg) and again.invalid_reasons()
    assert again.to_dict()["emissions_kg"] is None
