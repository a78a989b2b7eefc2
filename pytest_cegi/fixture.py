"""The `cegi` fixture object: what a test uses to measure, score and describe its variant."""
from __future__ import annotations

import contextlib
import math
import sys
from typing import Iterator

from pytest_cegi.meters.base import Window, WindowHandle
from pytest_cegi.record import Record


class CegiUsageError(ValueError):
    """A test used the fixture wrongly (NaN score, unknown phase name, ...)."""


class Cegi:
    """Per-test handle. Everything it learns goes into one `Record`."""

    def __init__(self, *, nodeid: str, spec, meter_factory, default_variant: str,
                 variant_param=None, repeat: int = 1, cache_dir=None):
        self._spec = spec
        self._meter_factory = meter_factory
        self._cache_dir = cache_dir
        self.repeat = repeat
        self.record = Record(
            nodeid=nodeid, task=spec.task, variant=default_variant,
            reference=bool(spec.reference), metric=spec.metric,
            higher_is_better=spec.higher_is_better if spec.higher_is_better is not None else True,
        )
        self._variant_set = self._reference_set = False
        if variant_param is not None:
            self.record.variant = variant_param.name

    # -- description of the variant ---------------------------------------------------
    @property
    def variant(self) -> str:
        return self.record.variant

    @variant.setter
    def variant(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise CegiUsageError(f"cegi.variant must be a non-empty string, got {name!r}")
        self.record.variant, self._variant_set = name, True

    @property
    def reference(self) -> bool:
        return self.record.reference

    @reference.setter
    def reference(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise CegiUsageError(f"cegi.reference must be True or False, got {value!r}")
        self.record.reference, self._reference_set = value, True

    @property
    def trainable_params(self) -> int | None:
        return self.record.trainable_params

    @trainable_params.setter
    def trainable_params(self, value: int) -> None:
        __tracebackhide__ = True
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CegiUsageError(f"cegi.trainable_params must be a whole number >= 0, got {value!r}")
        self.record.trainable_params = value

    # -- measurement ---------------------------------------------------------------------
    @contextlib.contextmanager
    def measure(self, phase: str = "inference") -> Iterator[WindowHandle]:
        """Measure the body of the `with` block as one window of `phase`."""
        __tracebackhide__ = True
        if not isinstance(phase, str) or not phase:
            raise CegiUsageError(f"phase must be a non-empty string, got {phase!r}")
        meter = self._meter_factory()
        with meter.window(phase) as handle:
            yield handle
        self.record.windows.append(handle.result)

    def add_window(self, window: Window) -> None:
        """Attach a window measured elsewhere (e.g. replayed from the adapter cache)."""
        self.record.windows.append(window)

    # -- scores --------------------------------------------------------------------------
    def record_score(self, value: float, metric: str | None = None, *,
                     higher_is_better: bool | None = None) -> None:
        __tracebackhide__ = True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # numpy and torch scalars convert; anything else is a mistake
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise CegiUsageError(f"cegi.record_score needs a number, got {type(value).__name__} {value!r}") from None
        value = float(value)
        if not math.isfinite(value):
            raise CegiUsageError(f"cegi.record_score got a non-finite score {value!r} "
                                 f"for {self.record.nodeid}; a score must be a finite number")
        self.record.score = value
        if metric is not None:
            self.record.metric = metric
        if higher_is_better is not None:
            self.record.higher_is_better = higher_is_better

    def score(self, metric, predictions, references, **kwargs) -> dict:
        """Score with a built-in or evaluate-style metric, record it, return all scores."""
        __tracebackhide__ = True
        from pytest_cegi import metrics

        result = metrics.compute(metric, predictions, references, **kwargs)
        entry = metrics.get(result.name) if result.name in metrics.available() else None
        primary = entry is not None and result.key == entry.primary_key
        label = result.name if primary else f"{result.name}:{result.key}"
        self.record_score(result.value, metric=label, higher_is_better=result.higher_is_better)
        return dict(result.scores)

    # -- model variants ------------------------------------------------------------------
    def prepare(self, variant, train=None, **finetune_kw):
        """Load (and fine-tune, for LoRA variants with data) a `pytest_cegi.Variant`."""
        __tracebackhide__ = True
        from pytest_cegi import variants

        if not isinstance(variant, variants.Variant):
            raise CegiUsageError(f"cegi.prepare needs a pytest_cegi.Variant, got {type(variant).__name__}")
        if not self._variant_set:
            self.record.variant = variant.name
        prepared = variants.prepare(variant, train=train, recorder=self, cache_dir=self._cache_dir,
                                    **finetune_kw)
        meta = dict(prepared.metadata)
        self.record.trainable_params = meta.get("trainable_params")
        self.record.total_params = meta.get("total_params")
        self.record.quantization = meta.get("quantization")
        self.record.lora_rank = meta.get("lora_rank")
        self.record.variant_meta = meta
        return prepared

    def __repr__(self) -> str:
        return f"<cegi {self.record.task}/{self.record.variant}>"


def loaded_variant_class():
    """The Variant class if its module is already imported (never import torch stacks here)."""
    module = sys.modules.get("pytest_cegi.variants")
    return getattr(module, "Variant", None)
