"""The flops meter: hand-checked counts, bit-identical energy, honest labels."""

import sys

import pytest

torch = pytest.importorskip("torch")

from pytest_cegi.core.settings import Carbon, Settings  # noqa: E402
from pytest_cegi.measure.meters.flops import FlopsMeter  # noqa: E402


def _meter(**kw):
    return FlopsMeter(Settings().carbon, **kw)


def _run(meter, fn, phase="inference"):
    with meter.window(phase) as handle:
        fn()
    return handle


def test_linear_layer_counts_2_in_out_batch_flops():
    torch.manual_seed(0)
    layer = torch.nn.Linear(48, 24)
    x = torch.randn(5, 48)
    handle = _run(_meter(), lambda: layer(x))
    assert handle.notes["flops"] == {"fp32": 2 * 48 * 24 * 5}
    assert handle.result.invalid_reason is None


def test_dtype_decides_the_class_and_the_price():
    torch.manual_seed(0)
    meter = _meter()
    layer = torch.nn.Linear(64, 32)
    x = torch.randn(8, 64)
    fp32 = _run(meter, lambda: layer(x))
    layer_bf16 = torch.nn.Linear(64, 32).to(torch.bfloat16)
    xb = x.to(torch.bfloat16)
    bf16 = _run(meter, lambda: layer_bf16(xb))
    assert bf16.notes["flops"] == {"bf16": 2 * 64 * 32 * 8}
    profile = meter.profile

    def price(cls: str) -> float:
        return profile.classes[cls].joules + profile.static_watts / profile.classes[cls].per_second

    # the FLOPs are priced by class, and bf16 moves half the bytes of fp32
    assert bf16.result.work["bytes"] * 2 == fp32.result.work["bytes"]
    assert bf16.notes["joules_by_unit"]["bf16"] == pytest.approx(2 * 64 * 32 * 8 * price("bf16"))
    assert fp32.notes["joules_by_unit"]["fp32"] == pytest.approx(2 * 64 * 32 * 8 * price("fp32"))


def test_energy_is_the_profile_formula_and_labelled_modelled():
    meter = _meter()
    a, b = torch.randn(16, 32), torch.randn(32, 8)
    handle = _run(meter, lambda: a @ b)
    profile = meter.profile
    flops, nbytes = 2 * 16 * 32 * 8, 4 * (16 * 32 + 32 * 8 + 16 * 8)
    w = handle.result
    assert w.work == {"flops": {"fp32": flops}, "bytes": nbytes, "dispatches": 1, "forward_passes": 0}
    seconds = (
        flops / profile.classes["fp32"].per_second
        + nbytes / profile.units["bytes"].per_second
        + 1 / profile.units["dispatch"].per_second
    )
    joules = (
        flops * profile.classes["fp32"].joules
        + nbytes * profile.units["bytes"].joules
        + profile.units["dispatch"].joules
        + profile.static_watts * seconds
    )
    assert w.energy_kwh == pytest.approx(joules / 3.6e6, rel=1e-12)
    assert w.modelled_energy_kwh == w.energy_kwh and w.modelled_by == profile.describe()
    assert w.cpu_energy_kwh == w.energy_kwh and w.gpu_energy_kwh == 0
    assert w.emissions_kg == pytest.approx(w.energy_kwh * 475 / 1000)
    assert w.method.meter == "flops" and w.method.estimate is True
    assert w.method.cpu == f"modelled (flops, profile {meter.profile.label})"
    assert w.method.gpu == "none"
    assert "modelled" in w.method.label()


def _tiny_llama():
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def test_three_windows_of_the_same_work_give_bit_identical_energy():
    model = _tiny_llama()
    ids = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))

    def work():
        with torch.no_grad():
            model(input_ids=ids)

    energies = []
    for _ in range(3):  # fresh meter each time, as three runs of the suite would have
        handle = _run(_meter(), work)
        assert handle.result.invalid_reason is None
        energies.append(handle.result.energy_kwh.hex())
        assert handle.result.duration_s > 0
    assert len(set(energies)) == 1, energies
    # The linear layers alone: per layer q,k,v,o (64x64), gate/up (64->128), down (128->64); lm_head 64->128.
    tokens = 2 * 12
    linear = tokens * 2 * (2 * (4 * 64 * 64 + 3 * 64 * 128) + 64 * 128)
    assert handle.notes["flops"]["fp32"] > linear  # plus attention (CPU SDPA kernel)


def test_a_window_without_torch_ops_is_invalid_not_free():
    handle = _run(_meter(), lambda: sum(i * i for i in range(1000)))
    w = handle.result
    assert w.energy_kwh == 0
    assert "measured no energy" in w.invalid_reason
    assert "no counted torch op" in handle.notes["why_zero"]


def test_without_torch_the_window_is_invalid_with_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    handle = _run(_meter(), lambda: None)
    w = handle.result
    assert w.error and "needs torch" in w.error and "--cegi-meter=codecarbon" in w.error
    assert w.invalid_reason.startswith("tracker error in inference window")


def test_an_exception_in_the_body_still_closes_the_window():
    meter = _meter()
    with pytest.raises(ZeroDivisionError), meter.window("inference") as handle:
        torch.ones(4, 4) @ torch.ones(4, 4)
        raise ZeroDivisionError("in the body")
    assert handle.result.energy_kwh > 0
    # and the dispatch mode is gone: later work is not counted into a dead window
    with meter.window("inference") as later:
        pass
    assert later.result.energy_kwh == 0


def test_fixed_intensity_and_country_factors():
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    fixed = FlopsMeter(Carbon(None, 100.0, "--cegi-carbon-intensity"))
    w = _run(fixed, lambda: a @ b).result
    assert w.emissions_kg == pytest.approx(w.energy_kwh * 0.1)
    assert w.method.carbon_factor_source == "--cegi-carbon-intensity"

    france = FlopsMeter(Carbon("FRA", None, "--cegi-country FRA (codecarbon's offline grid data)"))
    w = _run(france, lambda: a @ b).result
    assert 0 < w.method.carbon_factor_g_per_kwh < 200  # a low-carbon grid, from codecarbon's data
    assert w.method.carbon_factor_source.startswith("--cegi-country FRA")

    nowhere = FlopsMeter(Carbon("XXX", None, "--cegi-country XXX"))
    method = nowhere.method()
    assert method.carbon_factor_g_per_kwh == 475
    assert "world average" in method.carbon_factor_source and "XXX" in method.carbon_factor_source


def test_nested_counting_counts_the_inner_work_in_both():
    from pytest_cegi.measure.work import counting

    a = torch.randn(4, 4)
    with counting() as outer:
        a @ a
        with counting() as inner:
            a @ a
    assert inner.flops.by_class["fp32"] == 128 and outer.flops.by_class["fp32"] == 256


def test_profile_is_picked_by_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CEGI_FLOPS_PROFILE", "cegi-ci-epyc-2cpu")
    assert _meter().profile.name == "cegi-ci-epyc-2cpu"
    assert _meter(profile="generic-cpu").profile.name == "generic-cpu"  # explicit wins


def test_counts_match_torch_flop_counter_where_it_has_formulas():
    from torch.utils.flop_counter import FlopCounterMode

    from pytest_cegi.measure.work import counting

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 10))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with FlopCounterMode(display=False) as reference:
        model(x).sum().backward()
    with counting() as ours:
        model(x).sum().backward()
    assert ours.flops.total == reference.get_total_flops() > 0


def test_cpu_attention_is_counted():
    # torch's FlopCounterMode has no formula for the CPU SDPA kernel; we do.
    from pytest_cegi.measure.work import count_flops

    q = torch.randn(2, 4, 16, 8)
    _, count = count_flops(torch.nn.functional.scaled_dot_product_attention, q, q, q)
    assert count.by_class["fp32"] == 2 * (2 * 2 * 4 * 16 * 16 * 8)  # QK^T and AV
