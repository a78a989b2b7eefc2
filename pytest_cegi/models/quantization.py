"""bitsandbytes quantization of a variant: whether this machine can run it, the
transformers config that loads it, and which layers stay in full precision (the same
ones on every CPU, so one nf4 model has one structure and one score)."""

from __future__ import annotations

from pathlib import Path

from pytest_cegi.models.auto_model import is_vision_language, model_class
from pytest_cegi.models.variant_spec import Variant, model_dir

_quant_probe: dict[tuple, str | None] = {}  # (quantization, device) -> why not, or None


def quantization_problem(quantization: str, device: str) -> str | None:
    """Why bitsandbytes cannot run `quantization` on `device`, or None if it can."""
    key = (quantization, device)
    if key not in _quant_probe:
        _quant_probe[key] = _probe(quantization, device)
    return _quant_probe[key]


def _probe(quantization: str, device: str) -> str | None:
    try:
        import bitsandbytes as bnb
    except Exception as e:
        return f"bitsandbytes is not importable ({e}); install the model extra"
    try:
        import torch

        dense = torch.nn.Linear(64, 64)
        layer: torch.nn.Module
        if quantization == "int8":
            layer = bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False)
        else:
            layer = bnb.nn.Linear4bit(64, 64, quant_type=quantization, compute_dtype=torch.float32)
        layer.load_state_dict(dense.state_dict())
        layer = layer.to(device)
        layer(torch.randn(2, 64, device=device))
    except Exception as e:
        return f"bitsandbytes {getattr(bnb, '__version__', '?')} cannot run {quantization} on {device}: {e}"
    return None


def torch_dtype(variant: Variant):
    import torch

    return "auto" if variant.dtype in (None, "auto") else getattr(torch, variant.dtype)


def quant_config(variant: Variant, path: Path):
    import re

    import torch
    from transformers import BitsAndBytesConfig

    if variant.quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.float32 if variant.dtype in (None, "auto") else getattr(torch, variant.dtype)
    # Layers that bitsandbytes' packed CPU path rejects stay unquantized on every CPU, so
    # one nf4 model has one structure (and one score) whichever path runs it.
    kept, defaults = unquantized_modules(variant, path)
    skip = [re.escape(name) for name in sorted({*kept, *defaults})]
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=variant.quantization,
        bnb_4bit_compute_dtype=compute,
        llm_int8_skip_modules=skip or None,
    )


_unquantized: dict[tuple[str, bool], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def unquantized_modules(variant: Variant, path: Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(narrow, default) linear layers a 4-bit variant keeps in full precision: those the
    packed CPU kernels reject (`kernel_path.packable`), and transformers' own skips (the
    output embedding, tied weights), which naming any module would otherwise drop."""
    path = path or model_dir(variant)
    key = (str(path.resolve()), variant.trust_remote_code)
    if key not in _unquantized:
        import torch
        from accelerate import init_empty_weights
        from transformers import AutoConfig
        from transformers.quantizers.base import get_keys_to_not_convert

        from pytest_cegi.models import kernel_path

        config = AutoConfig.from_pretrained(path, trust_remote_code=variant.trust_remote_code, local_files_only=True)
        cls = model_class(is_vision_language(config), bool(getattr(config, "is_encoder_decoder", False)))
        with init_empty_weights():  # names and shapes only: no memory, no weights read
            skeleton = cls.from_config(config, trust_remote_code=variant.trust_remote_code)
        defaults = tuple(sorted(get_keys_to_not_convert(skeleton)))
        narrow = tuple(
            name
            for name, module in skeleton.named_modules()
            if isinstance(module, torch.nn.Linear)
            and not kernel_path.packable(module.in_features, module.out_features)
            and not any(name == d or name.startswith(d + ".") for d in defaults)
        )
        _unquantized[key] = (narrow, defaults)
    return _unquantized[key]


class _DropInt8CastNotice:
    """bitsandbytes logs a warning on every int8 matmul with float32 inputs: the
    documented cast to float16, once per layer per call. Keep it out of test logs."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("MatMul8bitLt: inputs will be cast")


def quiet_int8() -> None:
    import logging

    log = logging.getLogger("bitsandbytes.autograd._functions")
    if not any(isinstance(f, _DropInt8CastNotice) for f in log.filters):
        log.addFilter(_DropInt8CastNotice())
