"""The work model through the plugin (issue 21): the gate sees a batch-size regression
through modelled energy while FLOPs barely move, passes unchanged code, and says
what changed in the configuration."""

import json

import pytest

pytest.importorskip("transformers")

# A tiny Llama built from a config, generating for 8 prompts in batches of $BATCH.
SUITE = """
import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM

BATCH = int(os.environ.get("BATCH", "8"))


def test_generate(cegi):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
    )
    model = LlamaForCausalLM(config).eval()
    prompts = torch.randint(3, 64, (8, 6))

    def generate():
        with torch.no_grad():
            for i in range(0, len(prompts), BATCH):
                batch = prompts[i : i + BATCH]
                model.generate(
                    input_ids=batch, attention_mask=torch.ones_like(batch),
                    max_new_tokens=4, do_sample=False, pad_token_id=0,
                )

    if os.environ.get("FORM") == "with":  # the README's first form: measured once
        with cegi.measure(requests=len(prompts)):
            generate()
    else:
        cegi.measure_call(generate, requests=len(prompts))
    cegi.record_score(1.0)
"""

# Known prices, so the test does not depend on a calibrated machine's numbers.
PROFILE = {
    "schema": "pytest-cegi/flops-profile",
    "schema_version": 2,
    "name": "test-profile",
    "version": "1",
    "device": "cpu",
    "source": "made up for tests",
    "static_watts": 10.0,
    "classes": {
        c: {"joules_per_flop": 1e-10, "flops_per_second": 1e10}
        for c in ("fp64", "fp32", "bf16", "fp16", "int8", "int4", "quant")
    },
    "bytes": {"joules_per_byte": 1e-10, "bytes_per_second": 1e10},
    "dispatch": {"joules_per_dispatch": 1e-5, "dispatches_per_second": 1e5},
}


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "profile.json").write_text(json.dumps(PROFILE))
    pytester.makefile(".toml", pyproject='[tool.cegi]\nmeter = "fake"\nflops_profile = "profile.json"\n')
    return pytester


def _run(pytester, monkeypatch, batch: int, *args):
    monkeypatch.setenv("BATCH", str(batch))
    monkeypatch.setenv("CEGI_FAKE_KWH", "1e-6")  # the measured figure never moves: only the model can see
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def _record(path):
    (record,) = json.loads(path.read_text())["records"]
    return record


def test_batch_size_regression_fails_through_modelled_energy_while_flops_barely_move(suite, monkeypatch):
    _run(suite, monkeypatch, 8, "--cegi-save=base.json").assert_outcomes(passed=1)
    result = _run(suite, monkeypatch, 1, "--cegi-budget", "--cegi-baseline=base.json", "--cegi-save=head.json")
    result.assert_outcomes(failed=1)
    base, head = _record(suite.path / "base.json"), _record(suite.path / "head.json")
    assert abs(head["cost"] / base["cost"] - 1) < 0.01  # FLOPs: within the cost tolerance
    assert head["modelled_energy_kwh"] > 1.5 * base["modelled_energy_kwh"]
    assert head["energy_kwh"] == base["energy_kwh"]  # the (fake) measured figure did not move
    assert head["windows"][0]["work"]["dispatches"] > 4 * base["windows"][0]["work"]["dispatches"]
    assert "test-profile@1" in head["modelled_by"]
    out = result.stdout.str()
    assert "modelled_energy" in out and "exceeds tolerance 1%" in out
    assert "configuration changed: batch sizes: 8 -> 1" in out

    # The same judgement from the CLI, with the configuration difference beside it.
    compare = suite.run("pytest-cegi", "compare", "base.json", "head.json")
    assert compare.ret == 1
    text = compare.stdout.str()
    assert "REGRESSION" in text and "modelled_energy" in text
    assert "configuration changed: batch sizes: 8 -> 1" in text


def test_a_with_block_measured_once_is_gated_by_its_modelled_energy(suite, monkeypatch):
    """Issue 21: a `with cegi.measure()` block measured once is "not gated: unrepeated"
    for measured energy; its counted work gates it."""
    monkeypatch.setenv("FORM", "with")
    _run(suite, monkeypatch, 8, "--cegi-save=base.json").assert_outcomes(passed=1)
    result = _run(suite, monkeypatch, 1, "--cegi-budget", "--cegi-baseline=base.json", "--cegi-save=head.json")
    result.assert_outcomes(failed=1)
    head = _record(suite.path / "head.json")
    assert head["windows"][0]["details"]["counted_inside"] is True  # counted while measured, and says so
    result.stdout.fnmatch_lines(["*[[]fail[]]: modelled_energy * exceeds tolerance 1%*batch sizes: 8 -> 1*"])


def test_unchanged_code_gives_identical_modelled_figures_and_passes(suite, monkeypatch):
    _run(suite, monkeypatch, 8, "--cegi-save=base.json").assert_outcomes(passed=1)
    result = _run(suite, monkeypatch, 8, "--cegi-budget", "--cegi-baseline=base.json", "--cegi-save=head.json")
    result.assert_outcomes(passed=1)
    base, head = _record(suite.path / "base.json"), _record(suite.path / "head.json")
    assert head["modelled_energy_kwh"] == base["modelled_energy_kwh"] > 0
    assert head["windows"][0]["work"] == base["windows"][0]["work"]
    assert head["fingerprint"] == base["fingerprint"]
    assert head["fingerprint"]["batch_sizes"] == [8]
    assert suite.run("pytest-cegi", "compare", "base.json", "head.json").ret == 0


def test_modelled_figures_are_not_compared_across_profiles(suite, monkeypatch):
    _run(suite, monkeypatch, 8, "--cegi-save=base.json").assert_outcomes(passed=1)
    other = dict(PROFILE, version="2")
    (suite.path / "profile.json").write_text(json.dumps(other))
    result = _run(suite, monkeypatch, 1, "--cegi-budget", "--cegi-baseline=base.json")
    # Batch 1 costs more, but under another profile version the modelled figure is
    # refused, never judged; the (fake) measured energy did not move, so it passes.
    result.assert_outcomes(passed=1)
    compare = suite.run("pytest-cegi", "compare", "base.json", "base.json")
    assert compare.ret == 0


def test_a_finetune_window_is_not_counted_unless_asked_and_the_basis_says_so(pytester, monkeypatch):
    pytester.makepyfile(
        test_ft="""
import torch

def _work():
    torch.ones(64, 64) @ torch.ones(64, 64)

def test_default(cegi):
    with cegi.measure("finetune"):
        _work()
    cegi.measure_call(_work)
    cegi.record_score(1.0)

def test_counted(cegi):
    with cegi.measure("finetune", count=True):
        _work()
    cegi.measure_call(_work)
    cegi.record_score(1.0)
"""
    )
    monkeypatch.setenv("CEGI_FAKE_KWH", "1e-6")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cegi-meter=fake", "--cegi-save=run.json")
    result.assert_outcomes(passed=2)
    records = {r["nodeid"].split("::")[-1]: r for r in json.loads((pytester.path / "run.json").read_text())["records"]}
    default, counted = records["test_default"], records["test_counted"]
    assert default["windows"][0]["work"] is None and default["windows"][1]["work"]["flops"] == {"fp32": 2 * 64**3}
    assert default["modelled_basis"] == "inference; 1 of 2 windows"
    assert counted["modelled_basis"] == "finetune, inference"
    assert counted["modelled_energy_kwh"] == pytest.approx(2 * default["modelled_energy_kwh"])


def test_count_true_without_torch_says_nothing_was_counted(pytester):
    pytester.makepyfile(
        test_plain="""
def test_plain(cegi):
    with cegi.measure(count=True):
        sum(range(1000))
    cegi.record_score(1.0)
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cegi-meter=fake", "--cegi-save=run.json")
    result.assert_outcomes(passed=1)
    (record,) = json.loads((pytester.path / "run.json").read_text())["records"]
    assert record["windows"][0]["work"] is None and record["modelled_energy_kwh"] is None
    assert any("count=True): torch was not imported" in note for note in record["notes"])
    result.stdout.fnmatch_lines(["*count=True): torch was not imported*"])
