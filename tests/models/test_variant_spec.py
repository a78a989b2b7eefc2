"""`Variant` as a value: frozen, hashable, validated, importable without torch."""

import subprocess
import sys

import pytest

from pytest_cegi.models.variants import Variant, VariantError


def test_variant_is_frozen_hashable_and_named():
    v = Variant("lora-r8", "models/x", lora={"r": 8, "target_modules": ["q_proj", "v_proj"]})
    assert v.id == "lora-r8" and str(v) == "lora-r8"
    assert hash(v) == hash(Variant("lora-r8", "models/x", lora={"target_modules": ["q_proj", "v_proj"], "r": 8}))
    assert v.lora_config == {"r": 8, "target_modules": ["q_proj", "v_proj"]}
    with pytest.raises(AttributeError):
        v.name = "other"
    assert {v: 1}[v] == 1
    nested = Variant("x", "m", lora={"r": 4, "rank_pattern": {}, "alpha_pattern": {"q_proj": 8}})
    assert nested.lora_config == {"r": 4, "rank_pattern": {}, "alpha_pattern": {"q_proj": 8}}
    hash(nested)


def test_is_base():
    assert Variant("base", "m").is_base
    assert not Variant("q", "m", quantization="nf4").is_base
    assert not Variant("l", "m", lora={"r": 4}).is_base
    assert not Variant("a", "m", adapter="dir").is_base


def test_accepts_a_lora_config():
    from peft import LoraConfig

    v = Variant("lora-r4", "m", lora=LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj"]))
    assert v.lora_config["r"] == 4 and v.lora_config["lora_alpha"] == 16
    assert v.lora_config["target_modules"] == ["q_proj"]
    hash(v)


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(quantization="int4"), ["bad-q", "unknown quantization", "'int4'"]),
        (dict(dtype="float64"), ["bad-q", "unknown dtype"]),
        (dict(adapter="a", lora={"r": 4}), ["bad-q", "not both"]),
    ],
)
def test_bad_variants_name_themselves(kw, words):
    with pytest.raises(VariantError) as e:
        Variant("bad-q", "m", **kw)
    assert isinstance(e.value, ValueError)
    for w in words:
        assert w in str(e.value)


def test_importing_variants_does_not_import_torch():
    code = (
        "import sys, pytest_cegi, pytest_cegi.models.variants, pytest_cegi.models.adapter_cache, "
        "pytest_cegi.models.finetune, pytest_cegi.models.tiny_models; "
        "from pytest_cegi import Variant; Variant('b', 'm'); "
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
