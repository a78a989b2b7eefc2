"""Vision-language models as variants: a tiny LLaVA (random weights) through prepare and generate.

The task is trivial on purpose: solid red or blue images, prompt "colour?". The random
base cannot answer; a short LoRA fine-tune must, on held-out shades and sizes.
"""

import json

import pytest

from pytest_cegi.models.tiny_models import build_tiny_llava, colour_task
from pytest_cegi.models.variants import PreparedVariant, Variant, VariantError, is_vision_language, prepare

# q_proj and v_proj exist in both towers (CLIP and Llama): LoRA lands in the vision tower too.
TARGETS = ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA = {"r": 8, "lora_alpha": 16, "target_modules": TARGETS}
TRAIN_OPTS = dict(epochs=10, progress=False)  # 64 records, batch 16: 40 steps


@pytest.fixture(scope="session")
def tiny_llava(cache_root) -> str:
    return str(build_tiny_llava(cache_dir=cache_root))


@pytest.fixture(scope="session")
def colours():
    return {"train": colour_task(64, seed=1), "test": colour_task(16, seed=2)}


@pytest.fixture(scope="module")
def cfg(tiny_llava):
    with open(f"{tiny_llava}/config.json") as f:
        return json.load(f)


def vision_params(v: dict) -> int:
    """CLIP vision tower: embeddings, pre/post norms, layers (biased attention and MLP)."""
    h, f, n = v["hidden_size"], v["intermediate_size"], (v["image_size"] // v["patch_size"]) ** 2
    embeddings = h + 3 * v["patch_size"] ** 2 * h + (n + 1) * h  # class, patch conv, positions
    layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 4 * h
    return embeddings + 2 * h + v["num_hidden_layers"] * layer + 2 * h


def llava_params(c: dict) -> tuple[int, int]:
    """(total, vision tower) for the tiny LLaVA: vision + 2-layer projector + untied Llama."""
    v, t = c["vision_config"], c["text_config"]
    h, f, vocab = t["hidden_size"], t["intermediate_size"], t["vocab_size"]
    projector = (v["hidden_size"] * h + h) + (h * h + h)
    text = 2 * vocab * h + t["num_hidden_layers"] * (4 * h * h + 3 * h * f + 2 * h) + h
    vision = vision_params(v)
    return vision + projector + text, vision


def accuracy(pv, rows) -> float:
    out = pv.generate([r["prompt"] for r in rows], images=[r["image"] for r in rows], max_new_tokens=5)
    return sum(o == r["completion"] for o, r in zip(out, rows, strict=True)) / len(rows)


def test_tiny_llava_is_small_deterministic_and_cached(tmp_path):
    from safetensors.torch import load_file

    from pytest_cegi.models.tiny_models import DONE_FILE

    a, b = build_tiny_llava(cache_dir=tmp_path / "a"), build_tiny_llava(cache_dir=tmp_path / "b")
    assert a.name == b.name and sum(f.stat().st_size for f in a.iterdir()) < 5_000_000
    sa, sb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert sa.keys() == sb.keys() and all((sa[k] == sb[k]).all() for k in sa)
    mtime = (a / DONE_FILE).stat().st_mtime_ns
    assert build_tiny_llava(cache_dir=tmp_path / "a") == a and (a / DONE_FILE).stat().st_mtime_ns == mtime
    assert build_tiny_llava(cache_dir=tmp_path / "a", seed=1) != a


def test_detected_from_the_config(tiny_llava, cache_root):
    from transformers import LlamaConfig, LlavaConfig

    assert is_vision_language(LlavaConfig()) and not is_vision_language(LlamaConfig())
    pv = prepare(Variant("base", tiny_llava), cache_dir=cache_root)
    assert pv.vision and type(pv.model).__name__ == "LlavaForConditionalGeneration"
    assert type(pv.tokenizer).__name__ == "LlavaProcessor"  # handle.tokenizer is the processor


def test_total_params_include_the_vision_tower(tiny_llava, cfg, cache_root):
    total, vision = llava_params(cfg)
    pv = prepare(Variant("base", tiny_llava), cache_dir=cache_root)
    assert vision == sum(p.numel() for p in pv.model.model.vision_tower.parameters()) > 0
    assert pv.metadata["total_params"] == total and pv.metadata["trainable_params"] == 0  # used as is
    nf4 = prepare(Variant("nf4", tiny_llava, quantization="nf4"), cache_dir=cache_root)
    assert nf4.metadata["total_params"] == total  # 4-bit counted as what it represents


def test_base_and_nf4_generate_from_pil_and_path_images(tiny_llava, colours, cache_root, tmp_path):
    rows = colours["test"][:4]
    paths = []
    for i, r in enumerate(rows):
        paths.append(tmp_path / f"{i}.png")
        r["image"].save(paths[-1])  # PNG: the same pixels back
    prompts = [r["prompt"] for r in rows]
    for v in (Variant("base", tiny_llava), Variant("nf4", tiny_llava, quantization="nf4")):
        pv = prepare(v, cache_dir=cache_root)
        from_pil = pv.generate(prompts, images=[r["image"] for r in rows], max_new_tokens=4)
        assert len(from_pil) == 4 and all(isinstance(t, str) for t in from_pil)
        assert pv.generate(prompts, images=[str(p) for p in paths], max_new_tokens=4) == from_pil
        assert pv.generate(prompts, images=paths, max_new_tokens=4, batch_size=3) == from_pil


def test_lora_learns_the_colours_and_counts_like_peft(tiny_llava, colours, recorder, tmp_path):
    base = prepare(Variant("base", tiny_llava), cache_dir=tmp_path)
    pv = prepare(
        Variant("lora", tiny_llava, lora=LORA),
        train=colours["train"],
        recorder=recorder,
        cache_dir=tmp_path,
        **TRAIN_OPTS,
    )
    assert accuracy(base, colours["test"]) <= 0.5
    assert accuracy(pv, colours["test"]) == 1.0, pv.finetune_losses
    assert [w.phase for w in recorder.windows] == ["finetune"] and pv.metadata["finetune_steps"] == 40
    peft_trainable, peft_total = pv.model.get_nb_trainable_parameters()
    assert pv.metadata["trainable_params"] == peft_trainable
    assert peft_trainable == sum(p.numel() for p in pv.model.parameters() if p.requires_grad)
    assert pv.metadata["total_params"] == peft_total == base.metadata["total_params"] + peft_trainable
    in_vision = sum(p.numel() for n, p in pv.model.named_parameters() if "lora_" in n and "vision_tower" in n)
    assert 0 < in_vision < peft_trainable  # both towers got adapters


def test_nf4_lora_trains_and_the_cache_and_saved_adapter_replay_it(tiny_llava, colours, recorder, tmp_path):
    v = Variant("lora-nf4", tiny_llava, quantization="nf4", lora=LORA)
    first = prepare(v, train=colours["train"], recorder=recorder, cache_dir=tmp_path, **TRAIN_OPTS)
    assert first.metadata["quantization"] == "nf4" and first.finetune_losses[-1] < first.finetune_losses[0]
    rows = colours["test"]
    expected = first.generate([r["prompt"] for r in rows], images=[r["image"] for r in rows], max_new_tokens=5)
    assert accuracy(first, rows) >= 0.75

    # The cache key follows image content: equal pixels in new objects hit the entry.
    same = [dict(r, image=r["image"].copy()) for r in colours["train"]]
    hit = prepare(
        Variant("renamed", tiny_llava, quantization="nf4", lora=LORA),
        train=same,
        recorder=recorder,
        cache_dir=tmp_path,
        **TRAIN_OPTS,
    )
    assert hit.metadata["cached"] and recorder.windows[-1].cached
    assert hit.generate([r["prompt"] for r in rows], images=[r["image"] for r in rows], max_new_tokens=5) == expected

    first.model.save_pretrained(tmp_path / "adapter")
    saved = prepare(
        Variant("saved", tiny_llava, quantization="nf4", adapter=str(tmp_path / "adapter")), cache_dir=tmp_path
    )
    assert saved.metadata["trainable_params"] == first.metadata["trainable_params"]
    assert saved.generate([r["prompt"] for r in rows], images=[r["image"] for r in rows], max_new_tokens=5) == expected


def test_placeholder_through_chat_template_or_image_token(tiny_llava, cache_root, colours):
    from pytest_cegi.models.variants import vlm_prompt

    templated = prepare(Variant("base", tiny_llava), cache_dir=cache_root).tokenizer
    assert vlm_prompt(templated, "colour?") == "USER: <image>\ncolour? ASSISTANT:"
    assert vlm_prompt(templated, "<image> what colour?") == "<image> what colour?"  # placed by the caller
    plain_dir = str(build_tiny_llava(cache_dir=cache_root, chat_template=False))
    plain = prepare(Variant("plain", plain_dir), cache_dir=cache_root)
    assert vlm_prompt(plain.tokenizer, "colour?") == "<image>\ncolour?"
    rows = colours["test"][:2]
    assert len(plain.generate([r["prompt"] for r in rows], images=[r["image"] for r in rows], max_new_tokens=3)) == 2


def test_labels_mask_the_prompt_and_its_image_tokens(tiny_llava, cache_root, colours):
    from pytest_cegi.models import finetune

    processor = prepare(Variant("base", tiny_llava), cache_dir=cache_root).tokenizer
    records = finetune.normalize_records(colours["train"][:2])
    examples = [finetune._encode(processor, r, 128, seq2seq=False) for r in records]
    ids, labels, extras = examples[0]
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    completion = processor.tokenizer("red", add_special_tokens=False)["input_ids"] + [processor.tokenizer.eos_token_id]
    assert ids.count(image_id) == 16  # (16 px / 4 px patches)^2
    assert [t for t in labels if t != -100] == completion == ids[-len(completion) :]
    assert labels[: len(ids) - len(completion)] == [-100] * (len(ids) - len(completion))
    batch = finetune._collate(examples, processor.tokenizer.pad_token_id, "cpu")
    assert batch["pixel_values"].shape == (2, 3, 16, 16) and batch["labels"].shape == batch["input_ids"].shape
    with pytest.raises(ValueError, match="max_length=20"):
        finetune._encode(processor, records[0], 20, seq2seq=False)


def test_images_must_match_prompts(tiny_llava, cache_root, colours):
    pv = prepare(Variant("base", tiny_llava), cache_dir=cache_root)
    image = colours["test"][0]["image"]
    with pytest.raises(VariantError, match="'base'.*one image per prompt; got 2 prompt.*and no images"):
        pv.generate(["colour?", "colour?"])
    with pytest.raises(VariantError, match="one image per prompt; got 1 prompt.*and 2 image"):
        pv.generate(["colour?"], images=[image, image])
    with pytest.raises(VariantError, match=r"prompt\(s\) \[1\] have no image"):
        pv.generate(["colour?", "colour?"], images=[image, None])
    with pytest.raises(VariantError, match="'base': image 0: cannot read"):
        pv.generate(["colour?"], images=["/nonexistent/red.png"])
    text_model = PreparedVariant(Variant("text", "m"), model=None, tokenizer=object(), metadata={})
    with pytest.raises(VariantError, match="'text'.*not a vision-language model"):
        text_model.generate(["colour?"], images=[image])


def test_training_records_must_carry_images(tiny_llava, colours, tmp_path):
    v = Variant("lora", tiny_llava, lora=LORA)
    rows = colours["train"][:4] + [{"prompt": "colour?", "completion": "red"}]
    with pytest.raises(VariantError, match=r"'lora'.*every training record needs an 'image' .*\[4\]"):
        prepare(v, train=rows, cache_dir=tmp_path, progress=False)


def test_dataset_with_an_image_column(tiny_llava, colours, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = colours["train"][:8]
    v = Variant("lora", tiny_llava, lora={"r": 4, "target_modules": ["q_proj"]})
    pv = prepare(v, train=datasets.Dataset.from_list(rows), cache_dir=tmp_path, max_steps=2, progress=False)
    assert pv.metadata["finetune_steps"] == 2
    hit = prepare(v, train=rows, cache_dir=tmp_path, max_steps=2, progress=False)
    assert hit.metadata["cached"]  # same pixels (PNG inside the dataset), same key


def test_cegi_fixture_runs_vlm_variants(pytester, tiny_llava):
    pytester.makepyfile(
        test_vlm_suite=f"""
        import pytest
        from pytest_cegi import Variant
        from pytest_cegi.models.tiny_models import colour_task

        MODEL = {tiny_llava!r}
        TRAIN, TEST = colour_task(64, seed=1), colour_task(8, seed=2)
        LORA = {LORA!r}

        @pytest.mark.cegi(task="colours", metric="exact_match", gain="points")
        @pytest.mark.parametrize("variant", [Variant("base", MODEL), Variant("nf4", MODEL, quantization="nf4"),
                                             Variant("lora", MODEL, lora=LORA)])
        def test_colours(cegi, variant):
            model = cegi.prepare(variant, train=TRAIN, epochs=10, progress=False)
            with cegi.measure():
                out = model.generate([r["prompt"] for r in TEST], images=[r["image"] for r in TEST],
                                     max_new_tokens=5)
            cegi.record_score(sum(o == r["completion"] for o, r in zip(out, TEST)) / len(TEST))
    """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--cegi-meter=fake", "--cegi-save=run.json")
    result.assert_outcomes(passed=3)
    records = {r["variant"]: r for r in json.loads((pytester.path / "run.json").read_text())["records"]}
    assert records["lora"]["score"] == 1.0 and records["base"]["score"] < 1.0
    assert records["lora"]["trainable_params"] > 0 == records["base"]["trainable_params"]  # base: used as is
    assert records["base"]["cegi_applicable"] is False
    assert records["nf4"]["total_params"] == records["base"]["total_params"]
    assert records["lora"]["requests"] == 8 and "finetune" in records["lora"]["phases"]
