"""Acceptance: three runs of the same suite under --cegi-meter=flops save identical energy."""

import json

import pytest

pytest.importorskip("torch")

SUITE = """
import pytest, torch

@pytest.mark.cegi(task="t", reference=True)
def test_ref(cegi):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 8))
    with cegi.measure():
        with torch.no_grad():
            model(torch.randn(16, 32))
    cegi.record_score(0.5)
"""


def test_three_runs_save_bit_identical_energy(pytester, monkeypatch):
    monkeypatch.delenv("CEGI_FLOPS_PROFILE", raising=False)
    pytester.makepyfile(test_suite=SUITE)
    energies = []
    for i in range(3):
        result = pytester.runpytest("--cegi-meter=flops", f"--cegi-save=run{i}.json", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        run = json.loads((pytester.path / f"run{i}.json").read_text())
        assert run["meter"]["cpu"] == "modelled (flops, profile generic-cpu@3)"
        energies.append([w["energy_kwh"].hex() for r in run["records"] for w in r["windows"]])
    assert energies[0] and energies[0] == energies[1] == energies[2]
