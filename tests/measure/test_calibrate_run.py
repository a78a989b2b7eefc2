"""`pytest-cegi calibrate --from-run`: a profile fitted to a saved run's windows."""

import dataclasses
import json

import pytest

pytest.importorskip("scipy")

from pytest_cegi.cli import main
from pytest_cegi.core.record import Record
from pytest_cegi.core.run_file import build_run, write_run
from pytest_cegi.core.window import Method, Window
from pytest_cegi.measure.calibrate_run import RunCalibrationError, fit_run
from pytest_cegi.measure.profile import parse_profile

METHOD = Method("codecarbon", "attributed", "none", 475.0, "test", True, basis="attributed")
# The truth the fit must recover: joules and CPU seconds per unit of work.
J = {"fp32": 5e-11, "bytes": 2e-10, "dispatch": 2e-5}
TAU = {"fp32": 1e-11, "bytes": 4e-11, "dispatch": 4e-6}


def _window(flops: int, nbytes: int, dispatches: int, noise: float = 1.0) -> Window:
    work = {"flops": {"fp32": flops}, "bytes": nbytes, "dispatches": dispatches, "forward_passes": 1}
    joules = flops * J["fp32"] + nbytes * J["bytes"] + dispatches * J["dispatch"]
    seconds = flops * TAU["fp32"] + nbytes * TAU["bytes"] + dispatches * TAU["dispatch"]
    kwh = joules / 3.6e6
    # three repeats: the lowest is the work's own cost, the others carry a neighbour
    samples = (kwh * noise, kwh * 1.3, kwh * 1.1)
    mean = sum(samples) / 3
    return Window(
        phase="inference",
        energy_kwh=mean,
        emissions_kg=mean * 0.475,
        duration_s=seconds,
        method=METHOD,
        samples=samples,
        cpu_seconds=seconds * mean / min(samples),
        work=work,
    )


def _run(windows: list[Window], meter: Method = METHOD) -> dict:
    records = []
    for i, w in enumerate(windows):
        w = dataclasses.replace(w, method=meter)
        records.append(Record(nodeid=f"t.py::test[{i}]", task="t", variant=str(i), windows=[w]).to_dict())
    return build_run(records, meter.to_dict(), {})


MIXES = [(10**9, 10**6, 100), (10**6, 10**9, 100), (10**6, 10**5, 50_000), (10**8, 10**8, 5_000), (5 * 10**8, 1, 10)]


def test_the_fit_recovers_the_prices_of_a_run_made_from_known_ones():
    profile = fit_run(_run([_window(*mix) for mix in MIXES]), "run.json")
    parsed = parse_profile(profile, "fitted")
    assert parsed.classes["fp32"].joules == pytest.approx(J["fp32"], rel=0.01)
    assert parsed.units["bytes"].joules == pytest.approx(J["bytes"], rel=0.01)
    assert parsed.units["dispatch"].joules == pytest.approx(J["dispatch"], rel=0.01)
    assert 1 / parsed.units["dispatch"].per_second == pytest.approx(TAU["dispatch"], rel=0.01)
    cal = profile["calibration"]
    assert cal["windows"] == len(MIXES) and cal["summary"]["max_abs_log_ratio"] < 0.01
    assert set(cal["not_measured"]) == {"fp64", "bf16", "fp16", "int8", "int4", "quant"}  # copied from the base


def test_a_run_without_counted_work_or_of_the_flops_meter_is_refused():
    bare = dataclasses.replace(_window(*MIXES[0]), work=None)
    with pytest.raises(RunCalibrationError, match="0 window.*counted work.*at least 3"):
        fit_run(_run([bare] * 4), "old.json")
    flops = dataclasses.replace(METHOD, meter="flops")
    with pytest.raises(RunCalibrationError, match="modelled"):
        fit_run(_run([_window(*mix) for mix in MIXES], meter=flops), "flops.json")


def test_the_cli_writes_a_profile_and_names_a_bad_run_file(tmp_path, capsys):
    run_path = tmp_path / "run.json"
    write_run(run_path, _run([_window(*mix) for mix in MIXES]))
    out = tmp_path / "fitted.json"
    assert main(["calibrate", "--from-run", str(run_path), "-o", str(out), "--name", "mine", "--version", "1"]) == 0
    written = json.loads(out.read_text())
    assert parse_profile(written, str(out)).label == "mine@1"
    assert "--from-run" in written["source"]
    assert "wrote" in capsys.readouterr().out

    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["calibrate", "--from-run", str(broken)]) == 2
    assert str(broken) in capsys.readouterr().err
