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
