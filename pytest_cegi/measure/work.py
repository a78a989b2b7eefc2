"""Counting the work a block of torch code does: what the work model prices.

One pass under `counting()` tallies, deterministically,

* FLOPs by dtype class (torch's formula registry plus ours, see `flop_formulas`);
* bytes moved: for every op, the bytes of the tensors it reads and of the tensors it
  writes (numel x element size, as the op sees them). Rules, and why:
    - views (`view`, `t`, `transpose`, `expand`, `slice`, ...) move nothing: they only
      make new metadata; they still count as a dispatch;
    - weights are read again by every op that uses them (a batch-1 generate loop
      re-reads every weight once per token, which is what makes it expensive);
    - in-place ops read their operands and write the mutated tensor;
    - `copy_` reads its source and writes its destination;
    - gathers (`embedding`, `index_select`, `gather`, `index`) read the rows they
      return, not the whole table; scatters into a tensor (`index_copy_`,
      `index_put_`, `scatter_`) read and write the values scattered, not the whole
      destination;
    - an op's `out=` tensor is written, not read;
* op dispatches: ops that reached the dispatcher's Python mode after decomposition,
  views included (each one is a kernel launch on a GPU, and interpreter and
  dispatcher overhead on a CPU);
* forward passes: calls of a top-level `nn.Module` (one not called from another
  module's forward), e.g. one per decoding step of `model.generate`;
* a configuration fingerprint: torch's intra-op threads, the attention
  implementation and dtype of the top-level models called, and the input shapes
  they were called with (batch x sequence), so a comparison can say *why* the work
  changed.

Dispatch modes are thread-local: work on other threads (DataLoader workers, a server
thread) and in other processes is not seen. torch is imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pytest_cegi.measure.meters.flop_formulas import FlopCount, formula_table

if TYPE_CHECKING:
    from torch.utils._python_dispatch import TorchDispatchMode

# Ops that read only the rows they return (plus their indices).
_GATHERS = frozenset({"aten::embedding", "aten::index_select", "aten::gather", "aten::index", "aten::take"})
# In-place scatters: they touch the values scattered, not the whole destination.
_SCATTERS = frozenset({"aten::index_copy_", "aten::index_put_", "aten::scatter_", "aten::index_add_"})
MAX_SHAPES = 16  # distinct input shapes kept in a fingerprint (the count is always kept)


class WorkCount:
    """The work of one counted block."""

    def __init__(self) -> None:
        self.flops = FlopCount()
        self.bytes = 0
        self.dispatches = 0
        self.forward_passes = 0
        self.threads: int | None = None
        self.attn_implementations: set[str] = set()
        self.model_dtypes: set[str] = set()
        self.input_shapes: dict[tuple[int, ...], None] = {}  # insertion-ordered set of (batch, seq)

    def to_dict(self) -> dict[str, Any]:
        """What a window stores as `work` (JSON); the model prices exactly this."""
        return {
            "flops": self.flops.nonzero(),
            "bytes": self.bytes,
            "dispatches": self.dispatches,
            "forward_passes": self.forward_passes,
        }

    def fingerprint(self) -> dict[str, Any]:
        """The configuration the work ran under; compared, never priced."""
        shapes = list(self.input_shapes)
        return {
            "torch_threads": self.threads,
            "attn_implementation": sorted(self.attn_implementations),
            "model_dtype": sorted(self.model_dtypes),
            "flop_dtypes": sorted(self.flops.nonzero()),
            "batch_sizes": sorted({shape[0] for shape in shapes}),
            "input_shapes": ["x".join(map(str, shape)) for shape in shapes[:MAX_SHAPES]],
            "distinct_input_shapes": len(shapes),
        }


def _tensor_bytes(value, tensor_type) -> int:
    # Tensor.nbytes is numel x element size, the logical size the op sees, in one call
    if isinstance(value, tensor_type):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(v.nbytes for v in value if isinstance(v, tensor_type))
    return 0


def _bytes_default(args, kwargs, out, tensor_type) -> int:
    # the hot path of counting (every op): a plain loop, no generator
    total = 0
    for a in args:
        if isinstance(a, tensor_type):
            total += a.nbytes
        elif isinstance(a, (list, tuple)):
            total += _tensor_bytes(a, tensor_type)
    if kwargs:
        total += sum(_tensor_bytes(v, tensor_type) for k, v in kwargs.items() if k != "out")
    if isinstance(out, tensor_type):
        return total + out.nbytes
    return total + _tensor_bytes(out, tensor_type)


def _bytes_copy(args, kwargs, out, tensor_type) -> int:  # copy_(dst, src): read src, write dst
    return 2 * _tensor_bytes(args[1], tensor_type) if len(args) > 1 else _bytes_default(args, kwargs, out, tensor_type)


def _bytes_gather(args, kwargs, out, tensor_type) -> int:  # read what is returned, plus indices
    indices = sum(_tensor_bytes(a, tensor_type) for a in args[1:])
    return 2 * _tensor_bytes(out, tensor_type) + indices


def _bytes_scatter(args, kwargs, out, tensor_type) -> int:  # read and write the scattered values
    return 2 * sum(_tensor_bytes(a, tensor_type) for a in args[1:])


def _bytes_none(args, kwargs, out, tensor_type) -> int:
    return 0


def _bytes_rule(name: str, func) -> Callable:
    if func.is_view:
        return _bytes_none
    if name == "aten::copy_":
        return _bytes_copy
    if name in _GATHERS:
        return _bytes_gather
    if name in _SCATTERS:
        return _bytes_scatter
    return _bytes_default


def _leading_shape(value, tensor_type) -> tuple[int, ...] | None:
    """(batch, sequence) of a model's input tensor, or None."""
    if isinstance(value, tensor_type) and value.dim() >= 1:
        return tuple(int(d) for d in value.shape[:2])
    return None


def _counting_mode_class():
    """The TorchDispatchMode subclass, built on first use (torch imported lazily)."""
    global _CountingMode
    if _CountingMode is not None:
        return _CountingMode
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    composite = torch._C.DispatchKey.CompositeImplicitAutograd
    backends = (torch._C.DispatchKey.CPU, torch._C.DispatchKey.CUDA)
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    tensor_type = torch.Tensor

    def decomposable(func) -> bool:
        """Decompose only an op that would run its composite anyway: one with a
        backend kernel (silu_backward has both) runs that kernel uncounted, and a
        decomposition rounds differently, so counting would change a fine-tune's
        weights."""
        name = func.name()
        return has_kernel(name, composite) and not any(has_kernel(name, key) for key in backends)

    class CountingMode(TorchDispatchMode):
        """Counts the work of the ops dispatched under it.

        The same scheme as torch's FlopCounterMode (its formula registry, and
        decomposing CompositeImplicit ops that reach the mode so their parts are
        counted, here only those without a backend kernel: counting must not change
        a single result) without its per-module tracking, which costs more than the
        counting on small models. Each op's formula and byte rule are resolved once."""

        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # torch wraps every mode's __torch_dispatch__ in a dynamo-disabling shim, a
            # Python call per op; this mode is never compiled into (compiled regions are
            # not counted, docs/meters.md), so it opts out, as torch's own docs show.
            return False

        def __init__(self, work: WorkCount, table: dict) -> None:
            super().__init__()
            self.work = work
            self._table = table
            self._resolved: dict[int, tuple] = {}  # id(OpOverload) -> (formula, decomposable, bytes rule)

        def _resolve(self, func):
            packet = func._overloadpacket
            name = getattr(packet, "_qualified_op_name", None) or str(packet).replace(".", "::", 1)
            formula = self._table.get(name)
            entry = (formula, formula is None and decomposable(func), _bytes_rule(name, func))
            self._resolved[id(func)] = entry
            return entry

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            formula, decomposable, bytes_rule = self._resolved.get(id(func)) or self._resolve(func)
            if decomposable:
                with self:
                    r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
            out = func(*args, **kwargs)
            work = self.work
            work.dispatches += 1
            work.bytes += bytes_rule(args, kwargs, out, tensor_type)
            if formula is not None:
                formula(work.flops, args, kwargs, out)
            return out

    _CountingMode = CountingMode
    return CountingMode


_CountingMode = None


class _ForwardTally:
    """Global module hooks, installed for one counting pass: top-level forward calls
    and the configuration they ran with."""

    def __init__(self, work: WorkCount) -> None:
        self.work = work
        self.depth = 0
        self._handles: list = []

    def __enter__(self) -> _ForwardTally:
        from torch.nn.modules import module

        self._handles = [
            module.register_module_forward_pre_hook(self._pre),
            module.register_module_forward_hook(self._post, with_kwargs=True, always_call=True),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _pre(self, mod, args) -> None:
        self.depth += 1

    def _post(self, mod, args, kwargs=None, output=None) -> None:  # no output when forward raised
        self.depth -= 1
        if self.depth:
            return
        import torch

        work = self.work
        work.forward_passes += 1
        config = getattr(mod, "config", None)
        attn = getattr(config, "_attn_implementation", None)
        if isinstance(attn, str):
            work.attn_implementations.add(attn)
        dtype = getattr(mod, "dtype", None)
        if isinstance(dtype, torch.dtype):
            work.model_dtypes.add(str(dtype).rsplit(".", 1)[-1])
        first = next(
            (kwargs[k] for k in ("input_ids", "inputs_embeds", "pixel_values") if (kwargs or {}).get(k) is not None),
            args[0] if args else None,
        )
        shape = _leading_shape(first, torch.Tensor)
        if shape is not None:
            work.input_shapes.setdefault(shape, None)


class counting:
    """Context manager: count the work of the body.

        with counting() as work:
            model(x)
        work.flops.by_class, work.bytes, work.dispatches, work.forward_passes

    Nested blocks each count their whole body (an inner block's work is in the outer
    count too).
    """

    def __init__(self) -> None:
        self.work = WorkCount()
        self._mode: TorchDispatchMode | None = None
        self._forwards: _ForwardTally | None = None

    def __enter__(self) -> WorkCount:
        import torch

        self.work.threads = torch.get_num_threads()
        self._forwards = _ForwardTally(self.work).__enter__()
        self._mode = _counting_mode_class()(self.work, formula_table())
        self._mode.__enter__()
        return self.work

    def __exit__(self, *exc: object) -> Literal[False]:
        mode, self._mode = self._mode, None
        forwards, self._forwards = self._forwards, None
        assert mode is not None and forwards is not None, "counting.__exit__ without __enter__"
        try:
            mode.__exit__(*exc)
        finally:
            forwards.__exit__(*exc)
        return False


def count_work(fn: Callable, *args, **kwargs) -> tuple[Any, WorkCount]:
    """Run `fn(*args, **kwargs)` and return (its result, its WorkCount)."""
    with counting() as work:
        result = fn(*args, **kwargs)
    return result, work


def count_flops(fn: Callable, *args, **kwargs) -> tuple[Any, FlopCount]:
    """Run `fn(*args, **kwargs)` and return (its result, its FLOPs by class)."""
    result, work = count_work(fn, *args, **kwargs)
    return result, work.flops
