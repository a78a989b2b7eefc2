"""FLOP counting by dtype class, for the `flops` meter and `pytest-cegi calibrate`.

torch's `torch.utils.flop_counter` has formulas for matmul-like aten ops (mm,
addmm, bmm, baddbmm, convolution, the CUDA scaled-dot-product attention kernels
and their backward ops), but `FlopCounterMode` totals them without regard to
dtype, misses the CPU attention kernel (`_scaled_dot_product_flash_attention_for_cpu`)
and knows nothing of the custom operators bitsandbytes' 8-bit and 4-bit layers
dispatch to: a quantized model would count (almost) zero FLOPs. This module holds
formulas that use torch's registered ones, charge
each count to a *dtype class* (`fp64`, `fp32`, `bf16`, `fp16`, `int8`, from the
op's first tensor argument), and adds

* the CPU SDPA forward and backward kernels (torch's own sdpa formulas), `_int_mm`
  (int8), `mv` and `addmv`;
* the bitsandbytes operators (op schemas of bitsandbytes 0.4x-0.50, `_ops.py`):

  ====================================  ===========================================
  op                                    counted as
  ====================================  ===========================================
  int8_linear_matmul(A[..,K], B[N,K])   2*M*N*K  int8
  int8_scaled_mm(A, B, ...)             2*M*N*K  int8  + M*N quant (dequant epilogue)
  int8_mixed_scaled_mm(A, CA, CB, ..)   2*M*N*K  int8  + 2*M*N*n_outliers in A's
                                        float class + M*N quant
  int8_mm_dequant(A[M,N] int32, ...)    M*N quant
  int8_vectorwise_quant(A)              numel(A) quant
  int8_vectorwise_dequant(A, stats)     numel(A) quant
  int8_double_quant(A)                  2*numel(A) quant (row- and column-wise)
  gemm_4bit / gemv_4bit(A[..,K], B,     2*M*N*K  int4 (weights dequantized on the fly;
      shapeB=[N,K], ...)                the fused dequant is part of the int4 cost)
  dequantize_4bit(.., shape, ..)        prod(shape) quant
  quantize_4bit(A, ..)                  numel(A) quant
  (de)quantize_blockwise(A, ..)         numel(A) quant
  ====================================  ===========================================

  `quant` counts *elements* quantized or dequantized, not FLOPs in the strict
  sense; a profile prices them per element like any other class. Optimizer
  updates (`optimizer_update_*`) are elementwise and are not counted, exactly as
  torch does not count elementwise aten ops.

Which ops a bitsandbytes layer calls depends on the version, the device and the
mode (bitsandbytes 0.50.2 on CPU: `Linear8bitLt` in eval mode calls
`int8_vectorwise_quant` + `int8_scaled_mm`; in training mode it dequantizes the
weight and calls aten `addmm`, counted as float; `Linear4bit` calls `gemm_4bit`,
or `gemv_4bit` after its first eval-mode forward repacks the weight).

The dispatch mode that applies these formulas (and counts bytes, dispatches and
forward passes beside them) is `pytest_cegi.measure.work.counting`. Everything here
imports torch lazily.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# The dtype classes a count can land in, in the fixed order energy is summed in.
CLASSES = ("fp64", "fp32", "bf16", "fp16", "int8", "int4", "quant")

_DTYPE_CLASS_NAMES = {
    "float64": "fp64",
    "float32": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "int8": "int8",
    "uint8": "int8",
}
# Dtypes torch has matmul formulas for but no profile class (fp8, complex, int32...):
# counted under fp32 and listed in `FlopCount.unpriced`.
FALLBACK_CLASS = "fp32"


class FlopCount:
    """FLOPs of one counted block, by dtype class (and by op, for diagnosis)."""

    def __init__(self) -> None:
        self.by_class: dict[str, int] = {c: 0 for c in CLASSES}
        self.by_op: dict[str, int] = {}
        self.unpriced: set[str] = set()  # dtypes charged to FALLBACK_CLASS

    def add(self, cls: str, op: str, n: int) -> None:
        n = int(n)
        if n <= 0:
            return
        self.by_class[cls] += n
        self.by_op[op] = self.by_op.get(op, 0) + n

    @property
    def total(self) -> int:
        return sum(self.by_class.values())

    def nonzero(self) -> dict[str, int]:
        return {c: n for c, n in self.by_class.items() if n}


def dtype_class(dtype, count: FlopCount | None = None) -> str:
    name = str(dtype).rsplit(".", 1)[-1]
    cls = _DTYPE_CLASS_NAMES.get(name)
    if cls is None:
        if count is not None:
            count.unpriced.add(name)
        return FALLBACK_CLASS
    return cls


def _first_tensor(args, kwargs):
    import torch

    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor):
            return a
    return None


def _rows(t) -> int:
    """Rows of a [..., K] activation: the product of all but the last dimension."""
    return math.prod(t.shape[:-1]) if t.dim() > 1 else 1


# -- formulas ----------------------------------------------------------------------
# A formula here is `formula(count, args, kwargs, out)`: it charges `count` and
# returns nothing. Tables are keyed by qualified op name ("aten::mm").


def _aten_formula(name: str, torch_formula: Callable) -> Callable:
    """One of torch's registered formulas (shape-wrapped unless `_get_raw`),
    charged to the class of the op's first tensor argument."""
    op = name.replace("::", ".")

    def formula(count, args, kwargs, out):
        n = torch_formula(*args, out_val=out, **kwargs)
        t = _first_tensor(args, kwargs)
        count.add(dtype_class(t.dtype, count) if t is not None else FALLBACK_CLASS, op, n)

    return formula


def _extra_aten_formulas() -> dict[str, Callable]:
    """Matmul-type aten ops torch 2.13's registry has no formula for. A formula torch
    registers itself later always wins over these."""
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    def as_4d(shape):  # [..., heads, seq, dim] -> [b, heads, seq, dim]
        shape = tuple(shape)
        if len(shape) == 4:
            return shape
        if len(shape) < 3:
            return (1, 1, *((1,) * (2 - len(shape))), *shape)
        return (math.prod(shape[:-3]), *shape[-3:])

    def sdpa_cpu(count, args, kwargs, out):  # (query, key, value, ...)
        q, k, v = args[:3]
        count.add(
            dtype_class(q.dtype, count),
            "aten._scaled_dot_product_flash_attention_for_cpu",
            sdpa_flop_count(as_4d(q.shape), as_4d(k.shape), as_4d(v.shape)),
        )

    def sdpa_cpu_backward(count, args, kwargs, out):  # (grad_out, query, key, value, ...)
        g, q, k, v = args[:4]
        count.add(
            dtype_class(q.dtype, count),
            "aten._scaled_dot_product_flash_attention_for_cpu_backward",
            sdpa_backward_flop_count(as_4d(g.shape), as_4d(q.shape), as_4d(k.shape), as_4d(v.shape)),
        )

    def int_mm(count, args, kwargs, out):  # int8 [M,K] @ int8 [K,N] -> int32
        a, b = args[:2]
        count.add("int8", "aten._int_mm", 2 * a.shape[0] * a.shape[1] * b.shape[1])

    def mv(name, first):
        def formula(count, args, kwargs, out):  # [N,K] @ [K]
            mat = args[first]
            count.add(dtype_class(mat.dtype, count), name, 2 * mat.shape[0] * mat.shape[1])

        return formula

    return {
        "aten::_scaled_dot_product_flash_attention_for_cpu": sdpa_cpu,
        "aten::_scaled_dot_product_flash_attention_for_cpu_backward": sdpa_cpu_backward,
        "aten::_int_mm": int_mm,
        "aten::mv": mv("aten.mv", 0),
        "aten::addmv": mv("aten.addmv", 1),
    }


def _bnb_formulas() -> dict[str, Callable]:
    """bitsandbytes ops (qualified names) -> formulas charging their classes."""

    def int8_linear_matmul(count, args, kwargs, out):  # (A[..,K], B[N,K])
        A, B = args[:2]
        count.add("int8", "bitsandbytes.int8_linear_matmul", 2 * _rows(A) * B.shape[0] * A.shape[-1])

    def int8_scaled_mm(count, args, kwargs, out):  # (A[..,K], B[N,K], row_stats, col_stats, ...)
        A, B = args[:2]
        m, n, k = _rows(A), B.shape[0], A.shape[-1]
        count.add("int8", "bitsandbytes.int8_scaled_mm", 2 * m * n * k)
        count.add("quant", "bitsandbytes.int8_scaled_mm", m * n)

    def int8_mixed_scaled_mm(count, args, kwargs, out):  # (A, CA, CB, SCA, SCB, outlier_cols, bias)
        A, CA, CB = args[:3]
        outlier_cols = args[5] if len(args) > 5 else kwargs.get("outlier_cols")
        m, n, k = _rows(CA), CB.shape[0], CA.shape[-1]
        op = "bitsandbytes.int8_mixed_scaled_mm"
        count.add("int8", op, 2 * m * n * k)
        if outlier_cols is not None:
            count.add(dtype_class(A.dtype, count), op, 2 * m * n * outlier_cols.numel())
        count.add("quant", op, m * n)

    def elements(name, factor=1):
        op = f"bitsandbytes.{name}"

        def formula(count, args, kwargs, out):
            count.add("quant", op, factor * args[0].numel())

        return formula

    def dequantize_4bit(count, args, kwargs, out):  # (A, absmax, blocksize, quant_type, shape, dtype)
        shape = args[4] if len(args) > 4 else kwargs["shape"]
        count.add("quant", "bitsandbytes.dequantize_4bit", math.prod(shape))

    def matmul_4bit(name):
        op = f"bitsandbytes.{name}"

        def formula(count, args, kwargs, out):  # (A[..,K], B packed, shapeB=[N,K], ...)
            A, _, shapeB = args[:3]
            count.add("int4", op, 2 * _rows(A) * shapeB[0] * A.shape[-1])

        return formula

    table = {
        "int8_linear_matmul": int8_linear_matmul,
        "int8_scaled_mm": int8_scaled_mm,
        "int8_mixed_scaled_mm": int8_mixed_scaled_mm,
        "int8_mm_dequant": elements("int8_mm_dequant"),
        "int8_vectorwise_quant": elements("int8_vectorwise_quant"),
        "int8_vectorwise_dequant": elements("int8_vectorwise_dequant"),
        "int8_double_quant": elements("int8_double_quant", factor=2),
        "dequantize_4bit": dequantize_4bit,
        "quantize_4bit": elements("quantize_4bit"),
        "dequantize_blockwise": elements("dequantize_blockwise"),
        "quantize_blockwise": elements("quantize_blockwise"),
        "gemm_4bit": matmul_4bit("gemm_4bit"),
        "gemv_4bit": matmul_4bit("gemv_4bit"),
    }
    return {f"bitsandbytes::{name}": f for name, f in table.items()}


def formula_table() -> dict[str, Callable]:
    """Every formula the counter knows, by qualified op name: torch's registry
    (wrapped to charge dtype classes) over our extra aten ops, plus bitsandbytes'."""
    from torch.utils.flop_counter import flop_registry

    table = _extra_aten_formulas()
    for packet, torch_formula in flop_registry.items():
        name = getattr(packet, "_qualified_op_name", None)
        if name is not None:  # higher-order ops (flex_attention) are not handled
            table[name] = _aten_formula(name, torch_formula)
    table.update(_bnb_formulas())
    return table
