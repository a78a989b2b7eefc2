"""Fine-tuning raises the score; the adapter cache replays it without training."""

import dataclasses
import json

import pytest

import pytest_cegi.models.finetune as finetune_module
from pytest_cegi.models.tiny_models import exact_match
from pytest_cegi.models.variants import Variant, prepare

QV = ["q_proj", "v_proj"]


def lora(path, r, name=None, **kw):
    return Variant(name or f"lora-r{r}", path, lora={"r": r, "lora_alpha": 2 * r, "target_modules": QV}, **kw)


def score(pv, rows):
    return exact_match(pv.generate([r["prompt"] for r in rows], max_new_tokens=4), rows)


@pytest.mark.parametrize("r, quantization", [(8, None), (4, None), (8, "nf4")])
def test_finetuning_beats_the_base(r, quantization, tiny_causal, demo_data, recorder, tmp_path):
    base = score(prepare(Variant("base", tiny_causal), cache_dir=tmp_path), demo_data["test"])
    pv = prepare(
        lora(tiny_causal, r, quantization=quantization),
        train=demo_data["train"],
        recorder=recorder,
        cache_dir=tmp_path,
        progress=False,
    )
    tuned = score(pv, demo_data["test"])
    assert pv.metadata["finetune_steps"] > 0 and not pv.metadata["cached"]
    assert [w.phase for w in recorder.windows] == ["finetune"]
    assert pv.finetune_losses[-1] < pv.finetune_losses[0]
    assert tuned > base + 0.3, (base, tuned)


def test_second_run_hits_the_cache(tiny_causal, demo_data, tmp_path, monkeypatch, recorder):
    FakeRecorder = type(recorder)  # a fresh recorder per run

    first_rec = FakeRecorder()
    first = prepare(
        lora(tiny_causal, 4), train=demo_data["train"], recorder=first_rec, cache_dir=tmp_path, progress=False
    )
    trained = first_rec.windows[0]
    assert first.metadata["finetune_steps"] > 0

    monkeypatch.setattr(finetune_module, "finetune", lambda *a, **k: pytest.fail("trained on a cache hit"))
    second_rec = FakeRecorder()
    # Renaming the variant does not change what is trained, so it shares the entry.
    second = prepare(
        lora(tiny_causal, 4, name="renamed"),
        train=demo_data["train"],
        recorder=second_rec,
        cache_dir=tmp_path,
        progress=False,
    )
    assert second.metadata["cached"] is True and second.metadata["finetune_steps"] == 0
    assert second_rec.windows == [dataclasses.replace(trained, cached=True)]
    assert second_rec.windows[0].emissions_kg == trained.emissions_kg
    assert second.metadata["trainable_params"] == first.metadata["trainable_params"]
    prompts = [r["prompt"] for r in demo_data["test"]]
    assert second.generate(prompts, max_new_tokens=4) == first.generate(prompts, max_new_tokens=4)


@pytest.mark.parametrize("change", ["data", "rank", "settings"])
def test_changed_inputs_miss_the_cache(change, tiny_causal, demo_data, tmp_path, recorder):
    train = demo_data["train"][:48]
    prepare(lora(tiny_causal, 4), train=train, cache_dir=tmp_path, max_steps=3, progress=False)
    variant, kw = lora(tiny_causal, 4), dict(max_steps=3)
    if change == "data":
        train = train[:-1] + [{"prompt": "color of cat", "completion": " blue"}]
    elif change == "rank":
        variant = lora(tiny_causal, 8)
    else:
        kw["lr"] = 1e-3
    pv = prepare(variant, train=train, recorder=recorder, cache_dir=tmp_path, progress=False, **kw)
    assert pv.metadata["cached"] is False and pv.metadata["finetune_steps"] == 3
    assert len(recorder.windows) == 1 and not recorder.windows[0].cached


def test_progress_flag_is_not_a_cache_input():
    shown = finetune_module.FinetuneSettings(progress=True).cache_dict()
    assert shown == finetune_module.FinetuneSettings(progress=False).cache_dict() and "progress" not in shown


def test_corrupt_entry_is_rebuilt(tiny_causal, demo_data, tmp_path, recorder):
    train = demo_data["train"][:48]
    prepare(lora(tiny_causal, 4), train=train, recorder=recorder, cache_dir=tmp_path, max_steps=3, progress=False)
    (entry,) = (tmp_path / "adapters").iterdir()
    weights = entry / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt.*checksum mismatch"):
        pv = prepare(
            lora(tiny_causal, 4), train=train, recorder=recorder, cache_dir=tmp_path, max_steps=3, progress=False
        )
    assert pv.metadata["cached"] is False and pv.metadata["finetune_steps"] == 3
    meta = json.loads((entry / "cegi-entry.json").read_text())
    assert meta["info"]["steps"] == 3  # stored again, intact
    hit = prepare(lora(tiny_causal, 4), train=train, recorder=recorder, cache_dir=tmp_path, max_steps=3, progress=False)
    assert hit.metadata["cached"] is True


def test_missing_entry_file_is_rebuilt(tiny_causal, demo_data, tmp_path, recorder):
    train = demo_data["train"][:48]
    prepare(lora(tiny_causal, 4), train=train, recorder=recorder, cache_dir=tmp_path, max_steps=2, progress=False)
    (entry,) = (tmp_path / "adapters").iterdir()
    (entry / "cegi-entry.json").unlink()
    with pytest.warns(UserWarning, match="corrupt"):
        pv = prepare(
            lora(tiny_causal, 4), train=train, recorder=recorder, cache_dir=tmp_path, max_steps=2, progress=False
        )
    assert pv.metadata["finetune_steps"] == 2


def test_training_is_deterministic(tiny_causal, demo_data, tmp_path):
    runs = [
        prepare(
            lora(tiny_causal, 4),
            train=demo_data["train"][:48],
            cache_dir=tmp_path / str(i),
            max_steps=5,
            progress=False,
        ).finetune_losses
        for i in range(2)
    ]
    assert runs[0] == runs[1]


def test_dataset_input(tiny_causal, demo_data, tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(demo_data["train"][:32])
    pv = prepare(lora(tiny_causal, 4), train=ds, cache_dir=tmp_path, max_steps=2, progress=False)
    assert pv.metadata["finetune_steps"] == 2
    hit = prepare(lora(tiny_causal, 4), train=demo_data["train"][:32], cache_dir=tmp_path, max_steps=2, progress=False)
    assert hit.metadata["cached"]  # same records, same key, whatever container they came in


def test_bad_training_records(tiny_causal, tmp_path):
    with pytest.raises(ValueError, match="record 0 needs 'prompt' and 'completion'"):
        prepare(lora(tiny_causal, 4), train=[{"text": "x"}], cache_dir=tmp_path)
