"""Parameter counts of a loaded model (the `T_M` of CEGI) and the metadata a prepared
variant reports: total and trainable parameters, LoRA rank and targets, dtype, device,
and for 4-bit models the kernel path and the layers kept in full precision. See
variants.py's docstring for what counts as trained."""

from __future__ import annotations

from typing import Any

from pytest_cegi.models.quantization import unquantized_modules
from pytest_cegi.models.variant_spec import Variant


def logical_numel(param) -> int:
    """Parameters a tensor represents: a packed 4-bit weight counts its unpacked shape."""
    state = getattr(param, "quant_state", None)
    shape = getattr(state, "shape", None)
    if shape is not None:
        n = 1
        for d in shape:
            n *= int(d)
        return n
    return param.numel()


def count_parameters(model) -> tuple[int, int]:
    """(total, trainable) for any model; peft models report the adapter as trainable.

    Shared (tied) tensors count once. A model without an adapter is used as is:
    trainable is 0 (see the module docstring).
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += logical_numel(p)
    if hasattr(model, "peft_config"):
        from peft import get_peft_model_state_dict

        trainable = sum(t.numel() for t in get_peft_model_state_dict(model).values())
    else:
        trainable = 0
    return total, trainable


def describe(model, variant: Variant, *, cached: bool, steps: int) -> dict:
    total, trainable = count_parameters(model)
    rank = targets = None
    if hasattr(model, "peft_config"):
        cfg = next(iter(model.peft_config.values()))
        rank = getattr(cfg, "r", None)
        t = getattr(cfg, "target_modules", None)
        targets = sorted(t) if isinstance(t, (set, list, tuple)) else ([t] if t else None)
    dtype = getattr(model, "dtype", None) or next(model.parameters()).dtype
    device = str(next(model.parameters()).device)
    quantized: dict[str, Any] = {}
    if variant.quantization in ("nf4", "fp4"):
        from pytest_cegi.models import kernel_path

        # The numerics a score came from, and what stayed in full precision.
        quantized = {
            "kernel_path": kernel_path.current(device),
            "unquantized_modules": list(unquantized_modules(variant)[0]),
        }
    return {
        "total_params": int(total),
        "trainable_params": int(trainable),
        "quantization": variant.quantization,
        "lora_rank": rank,
        "lora_target_modules": targets,
        "dtype": str(dtype).removeprefix("torch."),
        "device": device,
        "cached": cached,
        "finetune_steps": steps,
        **quantized,
    }
