"""Poisoned baselines and run files (issue 12): every one is refused by the one
validation layer (run_schema) with the file and the field named; the CLI exits 2,
never 1 (which means "regression") and never with a traceback."""

from __future__ import annotations

import json
import os
import time

import pytest

from pytest_cegi.cli import main
from pytest_cegi.core import run_schema
from pytest_cegi.core.run_file import BaselineError, load_run


def _poison(make, mutate, name="base.json") -> str:
    """A valid saved run, then `mutate(run_text_or_dict)`; returns the file path."""
    run = make.run([make.record("base", reference=True), make.record("lora", finetune=2e-5)])
    clean = json.dumps(run)
    out = mutate(run)
    text = out if isinstance(out, str) else json.dumps(run)
    assert text != clean, "the attack changed nothing"
    return make.write_text(text, name)


def _set(path: list, value):
    def mutate(run):
        target = run
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


# (attack, mutation, field path the error must name)
ATTACKS = [
    ("NaN score", lambda run: json.dumps(run).replace('"score": 0.5', '"score": NaN', 1), "records[0]"),
    (
        "Infinity window energy",
        lambda run: json.dumps(run).replace('"energy_kwh": 0.0001', '"energy_kwh": Infinity', 1),
        ".energy_kwh",
    ),
    (
        "-Infinity emissions",
        lambda run: json.dumps(run).replace('"emissions_kg": 4e-05', '"emissions_kg": -Infinity', 1),
        ".emissions_kg",
    ),
    ("1e999 overflows", lambda run: json.dumps(run).replace('"score": 0.5', '"score": 1e999', 1), ".score"),
    (
        "string window energy",
        _set(["records", 1, "windows", 0, "energy_kwh"], "abc"),
        "records[1] (benchmarks/test_sql.py::test_sql[lora]).windows[0].energy_kwh",
    ),
    ("null window energy", _set(["records", 1, "windows", 0, "energy_kwh"], None), ".windows[0].energy_kwh"),
    ("list window energy", _set(["records", 1, "windows", 0, "energy_kwh"], [1]), ".windows[0].energy_kwh"),
    ("negative window energy", _set(["records", 1, "windows", 0, "energy_kwh"], -1.0), "must not be negative"),
    ("string samples", _set(["records", 0, "windows", 0, "samples"], "1e-4"), ".windows[0].samples"),
    ("string inside samples", _set(["records", 0, "windows", 0, "samples"], ["1e-4"]), ".windows[0].samples[0]"),
    ("integer phases_counted", _set(["records", 0, "phases_counted"], 3), ".phases_counted"),
    ("boolean trainable_params", _set(["records", 1, "trainable_params"], True), ".trainable_params"),
    ("string score", _set(["records", 1, "score"], "0.9"), ".score"),
    ("unknown window key", _set(["records", 1, "windows", 0, "colour"], "red"), ".windows[0].colour: unknown key"),
    ("bad method", _set(["records", 1, "windows", 0, "method"], {"meter": 3}), ".windows[0].method.meter"),
    ("bad verdict", _set(["records", 1, "verdict"], "great"), ".verdict"),
    ("numeric cpu identity", _set(["machine", "cpu_id"], 25), "machine.cpu_id"),
    ("numeric package version", _set(["packages", "torch"], 2.13), "packages.torch"),
    ("bad check", _set(["records", 1, "checks"], [{"limit": "floor"}]), ".checks[0].source"),
    (
        "5000-digit integer",
        lambda run: json.dumps(run).replace('"score": 0.5', '"score": ' + "9" * 5000, 1),
        "an integer of 5000 digits",
    ),
    (
        "deep nesting",
        lambda run: json.dumps(run).replace('"score": 0.5', '"score": ' + "[" * 100_000 + "]" * 100_000, 1),
        "nested too deeply",
    ),
    ("deep free-form table", _set(["records", 1, "variant_meta"], json.loads("[" * 40 + "]" * 40)), "nested deeper"),
    ("max_regression a string", _set(["settings", "max_regression"], "10%"), "settings.max_regression"),
    (
        "max_regression unknown key",
        _set(["settings", "max_regression"], {"speed": "10%"}),
        "settings.max_regression.speed: unknown quantity",
    ),
    (
        "max_regression not a tolerance",
        _set(["settings", "max_regression"], {"energy": "lots"}),
        "settings.max_regression.energy",
    ),
    ("record max_regression wrong", _set(["records", 1, "max_regression"], {"energy": 5}), ".max_regression.energy"),
    ("string schema_version", _set(["schema_version"], "1"), "schema_version must be an integer"),
]


@pytest.mark.parametrize("attack, mutate, field", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_poisoned_run_is_refused_naming_file_and_field(make, attack, mutate, field):
    path = _poison(make, mutate)
    with pytest.raises(BaselineError) as info:
        load_run(path)
    assert str(info.value).startswith(path + ": ")
    assert field in str(info.value)


@pytest.mark.parametrize("attack, mutate, field", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_cli_exits_2_on_a_poisoned_run(make, capsys, attack, mutate, field):
    bad = _poison(make, mutate)
    good = make.save(make.run([make.record("base", reference=True)]), "head.json")
    for argv in (
        ["compare", bad, good],
        ["compare", good, bad],
        ["report", bad, "--no-plot"],
        ["update", bad, str(make.tmp_path / "b.json")],
        ["pool", bad, good, "-o", str(make.tmp_path / "p.json")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and bad in err


def test_nan_baseline_no_longer_switches_the_gate_off(make):
    """The attack in the issue: a NaN baseline made a 1000x worse head pass."""
    path = _poison(make, lambda run: json.dumps(run).replace('"score": 0.5', '"score": NaN'))
    with pytest.raises(BaselineError, match="NaN is not allowed|expected a finite number"):
        load_run(path)


def test_dev_zero_is_refused_at_once(make):
    started = time.perf_counter()
    with pytest.raises(BaselineError, match="not a regular file"):
        load_run("/dev/zero")
    assert time.perf_counter() - started < 1.0


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(BaselineError, match="not a regular file"):
        load_run(fifo)


def test_a_huge_file_is_refused_by_size(tmp_path, monkeypatch):
    monkeypatch.setattr(run_schema, "MAX_RUN_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text('{"x": "' + "a" * 2000 + '"}')
    with pytest.raises(BaselineError, match="larger than the 1000 bytes"):
        load_run(path)


def test_the_committed_benchmark_baseline_still_loads():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "baseline.json")
    if not os.path.exists(root):
        pytest.skip("no committed baseline")
    assert load_run(root)["records"]


def test_validator_unit_checks():
    with pytest.raises(run_schema.RunFileError, match="a boolean"):
        run_schema.number(True, "x")
    with pytest.raises(run_schema.RunFileError, match="whole number"):
        run_schema.integer(1.5, "x")
    run_schema.number(None, "x", optional=True)
    assert isinstance(run_schema.parse_json("NaN"), run_schema._Rejected)
    assert run_schema.parse_json("[1e308]") == [1e308]


def test_cli_internal_error_is_not_exit_1(make, monkeypatch, capsys):
    """A bug must not read as "regression" to a script."""
    import pytest_cegi.cli as cli

    def boom(*a, **k):
        raise KeyError("bug")

    monkeypatch.setattr(cli, "compare", boom)
    good = make.save(make.run([make.record("base", reference=True)]), "head.json")
    assert main(["compare", good, good]) == 3
    assert "internal error" in capsys.readouterr().err
