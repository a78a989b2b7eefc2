"""The micro-workloads `pytest-cegi calibrate` measures (see calibrate.py): each a
callable doing a fixed amount of work, chosen so that each unit of the work model
(a FLOP class, bytes moved, op dispatches) dominates at least one of them, plus
model code (a tiny Llama generating) that pins the dispatch price to what models pay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workload:
    name: str
    target: str  # the unit it is meant to pin down
    what: str  # human description, saved in the file
    fn: Callable[[], Any]
    fitted: bool = True  # False: measured and its residual recorded, but not fitted


def _mm(a, b) -> Callable[[], Any]:
    import torch

    return lambda: torch.mm(a, b)


def _no_grad(fn):
    import torch

    def run():
        with torch.no_grad():
            return fn()

    return run


def workloads(
    size: int = 512, rows: int = 64, elements: int = 8 * 1024 * 1024, tiny_ops: int = 1000, modules: int = 100
) -> tuple[list[Workload], str | None]:
    """(the workloads, why the bitsandbytes ones are missing or None)."""
    import torch

    torch.manual_seed(0)
    out: list[Workload] = []
    for cls, dtype in (
        ("fp32", torch.float32),
        ("fp64", torch.float64),
        ("bf16", torch.bfloat16),
        ("fp16", torch.float16),
    ):
        a = torch.randn(size, size, dtype=dtype)
        b = torch.randn(size, size, dtype=dtype)
        out.append(Workload(f"mm-{cls}", cls, f"torch.mm {size}x{size} @ {size}x{size} {dtype}", _mm(a, b)))
    why_missing = None
    try:
        import bitsandbytes as bnb
    except Exception as exc:
        why_missing = f"bitsandbytes is not importable ({type(exc).__name__}: {exc})"
    else:
        with torch.no_grad():
            base = torch.nn.Linear(size, size)
            x = torch.randn(rows, size)
            l8 = bnb.nn.Linear8bitLt(size, size, has_fp16_weights=False, threshold=0.0)
            l8.load_state_dict(base.state_dict())
            l8 = l8.to("cpu").eval()
            l4 = bnb.nn.Linear4bit(size, size, compute_dtype=torch.float32, quant_type="nf4")
            l4.load_state_dict(base.state_dict())
            l4 = l4.to("cpu").eval()
            big = torch.randn(rows * 8, size, dtype=torch.float16)
        out += [
            Workload(
                "int8-linear8bitlt",
                "int8",
                f"bnb Linear8bitLt {size}->{size} eval, {rows} rows fp32",
                _no_grad(lambda: l8(x)),
            ),
            Workload(
                "int4-linear4bit-nf4",
                "int4",
                f"bnb Linear4bit nf4 {size}->{size} eval, {rows} rows fp32",
                _no_grad(lambda: l4(x)),
            ),
            Workload(
                "quant-int8-vectorwise",
                "quant",
                f"bitsandbytes int8_vectorwise_quant of {rows * 8}x{size} fp16",
                _no_grad(lambda: torch.ops.bitsandbytes.int8_vectorwise_quant(big)),
            ),
        ]
    ea, eb, ec = torch.randn(elements), torch.randn(elements), torch.empty(elements)
    out += [
        Workload(
            "bytes-add", "bytes", f"torch.add(a, b, out=c), {elements} fp32 elements", lambda: torch.add(ea, eb, out=ec)
        ),
        Workload("bytes-copy", "bytes", f"c.copy_(a), {elements} fp32 elements", lambda: ec.copy_(ea)),
    ]
    s1, s2, s3 = torch.ones(1), torch.ones(1), torch.empty(1)

    def tiny_adds():
        for _ in range(tiny_ops):
            torch.add(s1, s2, out=s3)

    layers: list[torch.nn.Module] = []
    for _ in range(max(1, modules // 2)):
        layers += [torch.nn.Linear(8, 8), torch.nn.LayerNorm(8)]
    stack = torch.nn.Sequential(*layers).eval()
    xs = torch.randn(1, 8)
    out += [
        # Bare aten calls from a Python loop, and a stack of tiny modules, pay none of
        # the framework overhead every model the plugin measures pays per dispatch:
        # recorded (their residuals say how far they are from the model-code price),
        # not fitted. Measured on the 2-vCPU EPYC guest: 9.5x and 2.1x over.
        Workload(
            "dispatch-tiny-add", "dispatch", f"{tiny_ops} x torch.add of 1-element tensors", tiny_adds, fitted=False
        ),
        Workload(
            "dispatch-module-stack",
            "dispatch",
            f"nn.Sequential of {len(layers)} tiny Linear(8, 8) / LayerNorm(8) modules, 1x8 input, no_grad",
            _no_grad(lambda: stack(xs)),
            fitted=False,
        ),
    ]
    model_loads, why_no_model = _model_workloads()
    out += model_loads
    missing = [why for why in (why_missing, why_no_model) if why]
    return out, "; ".join(missing) or None


def _model_workloads() -> tuple[list[Workload], str | None]:
    """Dispatch-bound model code: a tiny Llama (built from a config, random weights)
    generating greedily at batch 1, 8 and 32. Per dispatch, model code also runs
    transformers' Python (masks, cache updates, logits processing), which no bare-op
    workload pays; these pin the dispatch price to what models cost."""
    import torch

    try:
        from transformers import LlamaConfig, LlamaForCausalLM
    except Exception as exc:
        return [], f"transformers is not importable ({type(exc).__name__}: {exc}): no model workloads"
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
    )
    model = LlamaForCausalLM(config).eval()
    prompts = torch.randint(3, 256, (32, 12))

    def generate(batch: int, count: int) -> Callable[[], Any]:
        def run():
            with torch.no_grad():
                for i in range(0, count, batch):
                    ids = prompts[i : i + batch]
                    model.generate(
                        input_ids=ids,
                        attention_mask=torch.ones_like(ids),
                        max_new_tokens=8,
                        do_sample=False,
                        pad_token_id=0,
                    )

        return run

    what = "tiny Llama (hidden 64, 2 layers, random weights) greedy generate, 8 new tokens"
    return [
        Workload("model-generate-b1", "dispatch", f"{what}, 8 prompts, batch 1", generate(1, 8)),
        Workload("model-generate-b8", "dispatch", f"{what}, 8 prompts, batch 8", generate(8, 8)),
        Workload("model-generate-b32", "dispatch", f"{what}, 32 prompts, batch 32", generate(32, 32)),
    ], None
