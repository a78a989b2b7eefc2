"""Which CPU kernels bitsandbytes runs 4-bit layers with, and pinning the portable ones.

bitsandbytes (>= 0.48) picks its CPU 4-bit path by CPU feature: where
`bitsandbytes.functional.has_avx512bf16()` is true (AMD Zen 4, Intel Sapphire Rapids
and later), `Linear4bit` repacks its weights and a fused `gemv_4bit` kernel casts the
activations to bf16; elsewhere the generic path dequantizes and multiplies in the
compute dtype. The same nf4 model therefore generates different text on the two kinds
of CPU, and the packed path crashes on a layer narrower than the 4-bit block size.

`kernel_path = "portable"` (the `--cegi-kernel-path` option) makes every CPU take the
generic path, so scores and counted cost recorded on one x86-64 machine hold on
another. It replaces `has_avx512bf16` as bitsandbytes' `functional` module is first
imported, before its CPU kernels are registered; a bitsandbytes imported earlier
cannot be pinned, which is an error, never a silent no-op. bitsandbytes has no
setting for this, so the hook is ours. `"native"` (the default) keeps what the
library picks: the kernels a deployment on this CPU would run.

Every quantized record names the path it ran (`kernel_path` in the variant's
metadata), so a report can say which numerics a score came from.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

NATIVE = "native"
PORTABLE = "portable"
CHOICES = (NATIVE, PORTABLE)
_TARGET = "bitsandbytes.functional"
# bitsandbytes' packed CPU 4-bit kernel needs the input width in whole 4-bit blocks and
# the output width in whole tiles (measured on 0.50.2: other shapes crash inside it).
BLOCKSIZE = 64
TILE = 32


class KernelPathError(RuntimeError):
    """The portable path was asked for where it can no longer be pinned."""


def _generic_only() -> bool:
    """Stands in for bitsandbytes' `has_avx512bf16`: the generic CPU 4-bit path."""
    return False


class _PinningLoader(importlib.abc.Loader):
    """Runs bitsandbytes' own loader, then replaces the CPU feature probe."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        module.has_avx512bf16 = _generic_only  # type: ignore[attr-defined]


class _PortableFinder(importlib.abc.MetaPathFinder):
    """Finds `bitsandbytes.functional` as usual and wraps its loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _PinningLoader(spec.loader)
        return spec


def pin_portable() -> None:
    """Make bitsandbytes take its generic CPU 4-bit path on every CPU (idempotent)."""
    loaded = sys.modules.get(_TARGET)
    if loaded is not None:
        if getattr(loaded, "has_avx512bf16", None) is _generic_only or not loaded.has_avx512bf16():
            return  # pinned already, or this CPU has only the generic path anyway
        raise KernelPathError(
            "kernel_path = portable: bitsandbytes was imported before pytest-cegi could pin its "
            "generic CPU 4-bit kernels (a conftest.py or plugin imported it at collection); import "
            "bitsandbytes inside tests or fixtures, or use kernel_path = native"
        )
    if not any(isinstance(f, _PortableFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PortableFinder())


def packable(in_features: int, out_features: int) -> bool:
    """Whether a linear layer of this shape runs on the packed AVX512-BF16 path."""
    return in_features % BLOCKSIZE == 0 and out_features % TILE == 0


def current(device: str) -> str:
    """The 4-bit kernel path a layer on `device` runs: "cpu-avx512bf16" (packed, bf16
    activations), "cpu-generic", or the device type (e.g. "cuda")."""
    if not device.startswith("cpu"):
        return device.split(":")[0]
    import bitsandbytes.functional as bnb_functional

    return "cpu-avx512bf16" if bnb_functional.has_avx512bf16() else "cpu-generic"
