"""The deterministic cost (FLOPs, tokens) gates across machines; repeated energy
comparisons say the smallest change they could detect."""

import dataclasses

import pytest

from pytest_cegi.core.record import Record
from pytest_cegi.core.run_file import build_run
from pytest_cegi.core.window import Method, Window
from pytest_cegi.judge.comparison import compare

ATTRIBUTED = Method(
    meter="codecarbon",
    cpu="attributed: process CPU time x TDP/core",
    gpu="none",
    carbon_factor_g_per_kwh=400.0,
    carbon_factor_source="test",
    estimate=True,
    basis="attributed",
)
HERE = {"cpu": "AMD EPYC 7763", "gpus": []}
ELSEWHERE = {"cpu": "Intel Xeon Platinum 8370C", "gpus": []}


def rec(flops=None, tokens=None, samples=(1e-6,), variant="lora") -> dict:
    energy = sum(samples) / len(samples)
    w = Window(
        "inference",
        energy_kwh=energy,
        emissions_kg=energy * 0.4,
        duration_s=1.0,
        method=ATTRIBUTED,
        samples=tuple(samples) if len(samples) > 1 else (),
        flops=flops,
        tokens=tokens,
        machine_energy_kwh=energy * 5,
    )
    return Record(nodeid=f"t.py::test[{variant}]", task="t", variant=variant, score=0.5, windows=[w]).to_dict()


def run(records, machine):
    out = build_run(records, ATTRIBUTED.to_dict(), {"repeat": 1})
    out["machine"] = dict(machine)
    return out


def delta(base, head, machine=ELSEWHERE, quantity="cost"):
    result = compare(run([base], HERE), run([head], machine))
    return result.records[0].deltas[quantity], result


@pytest.mark.parametrize("change", [1.02, 1.05, 1.25, 2.0])
def test_a_cost_rise_of_2_percent_or_more_fails_across_machines(change):
    d, result = delta(rec(flops=1_000_000), rec(flops=int(1_000_000 * change)))
    assert d.status == "regression", d.reason
    assert "energy" in result.refused  # the hardware differs: energy is not compared ...
    assert "cost" not in result.refused  # ... but the counted cost is


def test_identical_cost_across_machines_is_unchanged():
    d, _ = delta(rec(flops=1_000_000), rec(flops=1_000_000))
    assert d.status == "unchanged"


def test_cost_below_tolerance_passes():
    d, _ = delta(rec(flops=1_000_000), rec(flops=1_005_000))
    assert d.status == "unchanged" and "tolerance 1%" in d.reason


def test_tokens_are_the_cost_when_flops_were_not_counted():
    d, _ = delta(rec(tokens=1000), rec(tokens=1100))
    assert d.status == "regression" and (d.base, d.head) == (1000, 1100)
    assert "tokens (inference)" in d.reason


def test_different_cost_bases_are_not_compared():
    d, _ = delta(rec(flops=1_000_000), rec(tokens=1000))
    assert d.status == "not compared"
    assert "FLOPs (inference)" in d.reason and "tokens (inference)" in d.reason


def test_attributed_energy_is_what_the_gate_compares():
    """The machine-level reading may move 5x; the gate reads the attributed figure."""
    quiet = (1.00e-6, 1.02e-6, 0.98e-6, 1.01e-6, 0.99e-6)
    base, head = rec(flops=1, samples=quiet), rec(flops=1, samples=quiet)
    head["windows"][0]["machine_energy_kwh"] *= 5
    head = Record.from_dict(head).to_dict()
    d, _ = delta(base, head, machine=HERE, quantity="energy")
    assert d.status == "unchanged"


def test_repeated_comparison_reports_the_smallest_detectable_change():
    quiet = (1.00e-6, 1.02e-6, 0.98e-6, 1.01e-6, 0.99e-6)
    d, _ = delta(rec(samples=quiet), rec(samples=tuple(x * 1.25 for x in quiet)), machine=HERE, quantity="energy")
    assert d.status == "regression"
    assert d.detectable is not None and 0 < d.detectable < 0.05
    assert "smallest detectable change ±" in d.reason
    assert d.to_dict()["detectable"] == d.detectable


def test_unrepeated_comparison_has_no_detectable_figure():
    d, _ = delta(rec(samples=(1e-6,)), rec(samples=(1.3e-6,)), machine=HERE, quantity="energy")
    assert d.detectable is None and d.unrepeated and "fewer than 3 repeats a side" in d.reason


def test_window_cost_fields_survive_the_run_file():
    r = Record.from_dict(rec(flops=123, tokens=45))
    w = r.windows[0]
    assert (w.flops, w.tokens, r.cost()) == (123, 45, (123, "FLOPs (inference)"))
    assert dataclasses.replace(w, flops=None).flops is None
