"""--cegi-meter=flops through the plugin: identical energy run after run, clear errors."""

import json

import pytest

pytest.importorskip("torch")

SUITE = """
import torch

def test_matmul(cegi):
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 32)
    x = torch.randn(8, 64)
    with cegi.measure(requests=8):
        layer(x)
    cegi.record_score(1.0)
"""


def test_flops_energy_is_identical_across_runs(pytester):
    pytester.makepyfile(test_flops=SUITE)
    energies = []
    for i in range(3):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cegi-meter=flops", f"--cegi-save=r{i}.json")
        result.assert_outcomes(passed=1)
        rec = json.loads((pytester.path / f"r{i}.json").read_text())["records"][0]
        energies.append(rec["energy_kwh"])
        assert rec["method"]["cpu"].startswith("modelled (flops, profile generic-cpu@")
        assert rec["estimate"] is True
    assert energies[0] > 0 and energies[0] == energies[1] == energies[2]


def test_bad_flops_profile_is_a_usage_error(pytester):
    pytester.makepyfile(test_flops=SUITE)
    pytester.makefile(".toml", pyproject='[tool.cegi]\nmeter = "flops"\nflops_profile = "no-such-profile"\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no built-in profile named 'no-such-profile'" in result.stderr.str()
