"""Loading every kind of variant of a tiny model on CPU, and counting its parameters.

Expected counts are computed here from the model's config, not by walking the
loaded model, so a counting bug (e.g. packed 4-bit storage) cannot hide.
"""

import json

import pytest

from pytest_cegi.models.variants import Variant, VariantError, count_parameters, default_device, prepare

QV = ["q_proj", "v_proj"]
METADATA_KEYS = {
    "total_params",
    "trainable_params",
    "quantization",
    "lora_rank",
    "lora_target_modules",
    "dtype",
    "device",
    "cached",
    "finetune_steps",
}


def llama_params(cfg) -> int:
    """Tied-embedding Llama: embeddings + per layer (attention, gated MLP, 2 norms) + final norm."""
    h, f, kv = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_key_value_heads"]
    head = h // cfg["num_attention_heads"]
    attn = h * h * 2 + 2 * h * kv * head  # q, o  +  k, v
    layer = attn + 3 * h * f + 2 * h
    return cfg["vocab_size"] * h + cfg["num_hidden_layers"] * layer + h


def lora_params(cfg, r: int, modules: int = 2) -> int:
    """LoRA on q_proj and v_proj (square in this model): A is r x h, B is h x r."""
    return cfg["num_hidden_layers"] * modules * r * 2 * cfg["hidden_size"]


@pytest.fixture(scope="module")
def cfg(tiny_causal):
    with open(f"{tiny_causal}/config.json") as f:
        return json.load(f)


VARIANTS = {
    "base": dict(),
    "lora-r4": dict(lora={"r": 4, "lora_alpha": 8, "target_modules": QV}),
    "lora-r8": dict(lora={"r": 8, "lora_alpha": 16, "target_modules": QV}),
    "int8": dict(quantization="int8"),
    "nf4": dict(quantization="nf4"),
    "fp4": dict(quantization="fp4"),
    "lora-r8-nf4": dict(lora={"r": 8, "lora_alpha": 16, "target_modules": QV}, quantization="nf4"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_loads_and_counts(name, tiny_causal, cfg, cache_root):
    v = Variant(name, tiny_causal, **VARIANTS[name])
    pv = prepare(v, cache_dir=cache_root)
    meta = pv.metadata
    four_bit = {"kernel_path", "unquantized_modules"} if v.quantization in ("nf4", "fp4") else set()
    assert set(meta) == METADATA_KEYS | four_bit  # 4-bit: the kernel path and the layers kept whole
    if four_bit:
        assert meta["kernel_path"].startswith(("cpu-", "cuda")) and meta["unquantized_modules"] == []
    base_total = llama_params(cfg)
    rank = (v.lora_config or {}).get("r")
    if rank:
        adapter = lora_params(cfg, rank)
        assert meta["trainable_params"] == adapter
        assert meta["total_params"] == base_total + adapter
        assert meta["lora_rank"] == rank and meta["lora_target_modules"] == QV
    else:  # used as is: nothing trained, T_M = 0 (see variants module docstring)
        assert meta["trainable_params"] == 0 and meta["total_params"] == base_total
        assert meta["lora_rank"] is None and meta["lora_target_modules"] is None
    assert meta["quantization"] == v.quantization
    assert meta["device"].split(":")[0] == default_device() and meta["dtype"] == "float32"
    assert meta["cached"] is False and meta["finetune_steps"] == 0
    out = pv.generate(["the cat is", "color of dog"], max_new_tokens=4)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    # 4-bit packing happens lazily on CPU; the count must not change after inference.
    assert count_parameters(pv.model)[0] == meta["total_params"]


def test_4bit_storage_is_not_the_parameter_count(tiny_causal, cache_root):
    pv = prepare(Variant("nf4", tiny_causal, quantization="nf4"), cache_dir=cache_root)
    stored = sum(p.numel() for p in pv.model.parameters())
    assert stored < pv.metadata["total_params"]  # two 4-bit values per uint8 element


def test_base_weights_load_once_and_lora_does_not_touch_them(tiny_causal, cache_root, demo_data):
    base = prepare(Variant("base", tiny_causal), cache_dir=cache_root)
    again = prepare(Variant("base-again", tiny_causal), cache_dir=cache_root)
    assert again.model is base.model
    before = {k: t.clone() for k, t in base.model.state_dict().items()}
    lora = prepare(
        Variant("lora-r4", tiny_causal, lora={"r": 4, "target_modules": QV}),
        train=demo_data["train"][:32],
        cache_dir=cache_root,
        max_steps=3,
        progress=False,
    )
    assert lora.model.base_model.model is not base.model
    assert not any(n for n, _ in base.model.named_modules() if "lora" in n)
    after = base.model.state_dict()
    assert all((before[k] == after[k]).all() for k in before)


def test_saved_adapter_directory(tiny_causal, cache_root, demo_data, tmp_path):
    trained = prepare(
        Variant("lora-r4", tiny_causal, lora={"r": 4, "target_modules": QV}),
        train=demo_data["train"][:32],
        cache_dir=cache_root,
        max_steps=3,
        progress=False,
    )
    trained.model.save_pretrained(tmp_path / "adapter")
    pv = prepare(Variant("saved", tiny_causal, adapter=str(tmp_path / "adapter")), cache_dir=cache_root)
    assert pv.metadata["trainable_params"] == trained.metadata["trainable_params"]
    assert pv.metadata["lora_rank"] == 4
    prompts = [r["prompt"] for r in demo_data["test"][:8]]
    assert pv.generate(prompts, max_new_tokens=3) == trained.generate(prompts, max_new_tokens=3)


def test_a_model_used_as_is_trains_nothing(tiny_causal, cache_root):
    total, trainable = count_parameters(prepare(Variant("base", tiny_causal), cache_dir=cache_root).model)
    assert trainable == 0 and total > 0


def test_an_untrained_lora_keeps_its_adapter_count(tiny_causal, cache_root):
    """No training data: still a LoRA variant, so its ceiling applies (a skipped fine-tune
    fails with "no gain" instead of passing as "nothing trained")."""
    pv = prepare(Variant("lora-r4", tiny_causal, lora={"r": 4, "target_modules": QV}), cache_dir=cache_root)
    assert pv.metadata["trainable_params"] > 0


def test_a_declared_full_finetune_counts_every_parameter(pytester, tiny_causal):
    """A user who fully fine-tuned a checkpoint says so with cegi.trainable_params;
    prepare() does not overwrite it."""
    pytester.makepyfile(f"""
        import pytest
        from pytest_cegi import Variant

        @pytest.mark.cegi(task="t")
        def test_full(cegi):
            cegi.trainable_params = 153_600
            cegi.prepare(Variant("full-ft", {str(tiny_causal)!r}))
            assert cegi.trainable_params == 153_600
    """)
    pytester.runpytest("-p", "no:cacheprovider", "--cegi-meter=fake").assert_outcomes(passed=1)


def test_relative_model_paths_name_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VariantError, match=f"in the working directory {tmp_path}.*build them from __file__"):
        prepare(Variant("ghost", "models/ghost"))


def test_seq2seq_variants(tiny_seq2seq, cache_root, demo_data):
    with open(f"{tiny_seq2seq}/config.json") as f:
        c = json.load(f)
    d, ff, inner, L = c["d_model"], c["d_ff"], c["num_heads"] * c["d_kv"], c["num_layers"]
    rel = c["relative_attention_num_buckets"] * c["num_heads"]  # one bias table per stack
    enc = L * (4 * d * inner + 2 * d * ff + 2 * d) + rel + d
    dec = L * (8 * d * inner + 2 * d * ff + 3 * d) + rel + d
    total = c["vocab_size"] * d + enc + dec
    base = prepare(Variant("t5-base", tiny_seq2seq), cache_dir=cache_root)
    assert base.metadata["total_params"] == total
    q = prepare(
        Variant("t5-lora-r8-nf4", tiny_seq2seq, quantization="nf4", lora={"r": 8, "target_modules": ["q", "v"]}),
        train=demo_data["train"][:32],
        cache_dir=cache_root,
        max_steps=4,
        progress=False,
    )
    adapter = (L * 2 + L * 4) * 8 * (d + inner)  # q, v in enc self, dec self, dec cross
    assert q.metadata["trainable_params"] == adapter
    assert q.metadata["total_params"] == total + adapter
    assert q.metadata["finetune_steps"] == 4
    assert len(q.generate(["color of cat"], max_new_tokens=3)) == 1


def test_missing_model_directory(tmp_path):
    with pytest.raises(VariantError, match="'ghost'.*does not exist"):
        prepare(Variant("ghost", str(tmp_path / "nope")))


def test_a_diffusers_pipeline_directory_is_a_clear_error(tmp_path):
    """A diffusers pipeline (model_index.json, no config.json) is loaded by the test, not
    by cegi.prepare: the error says so and points at the docs."""
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(VariantError, match=r"'sd'.*diffusers pipeline.*cegi\.measure_call.*docs/variants\.md"):
        prepare(Variant("sd", str(tmp_path)))


def test_hub_ids_are_not_downloaded():
    with pytest.raises(VariantError, match="never the Hub"):
        prepare(Variant("hub", "gpt2-not-a-local-dir"))


def test_unknown_lora_target(tiny_causal, cache_root):
    v = Variant("lora-bad", tiny_causal, lora={"r": 4, "target_modules": ["query_key_value"]})
    with pytest.raises(VariantError, match=r"'lora-bad'.*query_key_value.*q_proj"):
        prepare(v, cache_dir=cache_root)


def test_unknown_lora_argument(tiny_causal, cache_root):
    with pytest.raises(VariantError, match="'lora-typo'.*invalid LoRA settings"):
        prepare(Variant("lora-typo", tiny_causal, lora={"rank": 4}), cache_dir=cache_root)


def test_unknown_finetune_option(tiny_causal, cache_root):
    with pytest.raises(VariantError, match="'base'.*unknown fine-tuning option"):
        prepare(Variant("base", tiny_causal), cache_dir=cache_root, epoch=3)


def test_quantization_unavailable_is_named(tiny_causal, monkeypatch):
    import pytest_cegi.models.quantization as quantization
    import pytest_cegi.models.variants as variants

    monkeypatch.setattr(quantization, "_quant_probe", {("nf4", "cpu"): "no kernel for this CPU"})
    with pytest.raises(variants.VariantUnavailable, match="'cheap-nf4'.*nf4 quantization unavailable.*no kernel"):
        prepare(Variant("cheap-nf4", tiny_causal, quantization="nf4"), device="cpu")


def test_fixture_skips_an_unavailable_variant(pytester, tiny_causal, monkeypatch):
    # The model stack raises; the `cegi` fixture is what turns that into a skip.
    pytester.makeconftest(f"""
        import pytest_cegi.models.quantization as quantization
        quantization._quant_probe[("nf4", "cpu")] = "no kernel for this CPU"
        MODEL = {str(tiny_causal)!r}
    """)
    pytester.makepyfile(
        test_q="""
        from conftest import MODEL
        from pytest_cegi import Variant

        def test_nf4(cegi):
            cegi.prepare(Variant("cheap-nf4", MODEL, quantization="nf4"))
    """
    )
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*'cheap-nf4'*nf4 quantization unavailable*no kernel*"])


def test_probe_runs_here():
    from pytest_cegi.models.variants import quantization_problem

    for q in ("int8", "nf4", "fp4"):
        assert quantization_problem(q, "cpu") is None
