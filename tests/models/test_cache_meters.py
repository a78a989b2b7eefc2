"""The adapter cache never mixes meters: a run replays only its own meter's window,
re-expressed with its own carbon factor; an edited entry record is rebuilt."""

import dataclasses
import json

import pytest

import pytest_cegi.models.finetune as finetune_module
from pytest_cegi.models.adapter_cache import ENTRY_FILE
from pytest_cegi.models.variants import Variant, prepare

QV = ["q_proj", "v_proj"]
TRAIN = dict(max_steps=3, progress=False)


def lora(path):
    return Variant("lora-r4", path, lora={"r": 4, "lora_alpha": 8, "target_modules": QV})


def fresh(recorder, identity):
    rec = type(recorder)()
    rec.identity = identity
    return rec


def entry_files(tmp_path):
    return list((tmp_path / "adapters").glob(f"*/{ENTRY_FILE}"))


def test_other_meter_trains_again_and_each_replays_its_own(tiny_causal, demo_data, tmp_path, recorder, monkeypatch):
    train = demo_data["train"][:48]
    by_codecarbon = fresh(recorder, "codecarbon:attributed-v1:cpu")
    prepare(lora(tiny_causal), train=train, recorder=by_codecarbon, cache_dir=tmp_path, **TRAIN)

    by_flops = fresh(recorder, "flops:generic-cpu@1")
    flops_first = prepare(lora(tiny_causal), train=train, recorder=by_flops, cache_dir=tmp_path, **TRAIN)
    assert flops_first.metadata["cached"] is False  # measured by its own meter, not replayed
    assert not by_flops.windows[0].cached
    (entry,) = entry_files(tmp_path)
    stored = json.loads(entry.read_text())["windows"]
    assert set(stored) == {"codecarbon:attributed-v1:cpu", "flops:generic-cpu@1"}

    monkeypatch.setattr(finetune_module, "finetune", lambda *a, **k: pytest.fail("trained on a cache hit"))
    for identity, first in (("flops:generic-cpu@1", by_flops), ("codecarbon:attributed-v1:cpu", by_codecarbon)):
        again = fresh(recorder, identity)
        prepare(lora(tiny_causal), train=train, recorder=again, cache_dir=tmp_path, **TRAIN)
        assert again.windows == [dataclasses.replace(first.windows[0], cached=True)], identity


def test_replay_is_re_expressed_with_the_sessions_carbon_factor():
    from pytest_cegi.core.settings import Carbon
    from pytest_cegi.core.window import Method, Window
    from pytest_cegi.measure.fixture import Cegi
    from pytest_cegi.measure.meters.fake import FakeMeter

    class Spec:
        task, metric, reference, higher_is_better = "t", None, False, True

    meter = FakeMeter(Carbon(country=None, intensity_g_per_kwh=100.0, source="--cegi-carbon-intensity"))
    cegi = Cegi(nodeid="t", spec=Spec(), meter_factory=lambda: meter, default_variant="v")
    old = Method(
        meter="fake",
        cpu="fake",
        gpu="none",
        carbon_factor_g_per_kwh=500.0,
        carbon_factor_source="old run",
        estimate=True,
    )
    cegi.replay_window(
        Window(
            "finetune",
            energy_kwh=2e-6,
            emissions_kg=1e-6,
            duration_s=1.0,
            method=old,
            machine_energy_kwh=4e-6,
            machine_emissions_kg=2e-6,
        )
    )
    (w,) = cegi.record.windows
    assert w.cached and w.energy_kwh == 2e-6
    assert w.emissions_kg == pytest.approx(2e-6 * 100 / 1000)
    assert w.machine_emissions_kg == pytest.approx(4e-6 * 100 / 1000)
    assert (w.method.carbon_factor_g_per_kwh, w.method.carbon_factor_source) == (100.0, "--cegi-carbon-intensity")


@pytest.mark.parametrize("tamper", ["energy", "quoted", "nan"])
def test_an_edited_entry_record_is_rebuilt_never_replayed(tamper, tiny_causal, demo_data, tmp_path, recorder):
    train = demo_data["train"][:48]
    first = fresh(recorder, "fake-recorder")
    prepare(lora(tiny_causal), train=train, recorder=first, cache_dir=tmp_path, **TRAIN)
    (entry,) = entry_files(tmp_path)
    text = entry.read_text()
    energy = repr(first.windows[0].energy_kwh)
    assert energy in text
    replacement = {
        "energy": energy.replace("e-", "e-1", 1) if "e-" in energy else "1e-16",
        "quoted": json.dumps(energy),
        "nan": "NaN",
    }[tamper]
    entry.write_text(text.replace(energy, replacement, 1))

    second = fresh(recorder, "fake-recorder")
    with pytest.warns(UserWarning, match="corrupt"):
        pv = prepare(lora(tiny_causal), train=train, recorder=second, cache_dir=tmp_path, **TRAIN)
    assert pv.metadata["cached"] is False and not second.windows[0].cached  # trained and measured again
