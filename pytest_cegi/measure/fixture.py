"""The `cegi` fixture object: what a test uses to measure, score and describe its variant."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
import sys
import time
from collections.abc import Iterator

from pytest_cegi.core.record import Record
from pytest_cegi.core.window import Window, WindowHandle


class CegiUsageError(ValueError):
    """A test used the fixture wrongly (NaN score, unknown phase name, ...)."""


class RepeatWindow:
    """One run of `cegi.repeated()`: use it as `with run:` around the work."""

    def __init__(self, context: contextlib.AbstractContextManager):
        self._context = context
        self._used = False

    def __enter__(self) -> WindowHandle:
        self._used = True
        return self._context.__enter__()

    def __exit__(self, *exc) -> bool | None:
        return self._context.__exit__(*exc)

    def check_used(self) -> None:
        if not self._used:
            raise CegiUsageError(
                "each run of cegi.repeated() must be used as `with run:` around the work "
                "(for run in cegi.repeated(): with run: ...)"
            )


def _should_count_work(meter) -> bool:
    """Count the work only when torch is already in use and the meter does not count
    it itself (the flops meter); never import torch for a test that does not use it."""
    return "torch" in sys.modules and not meter.traits.counts_work


class Cegi:
    """Per-test handle. Everything it learns goes into one `Record`."""

    def __init__(
        self,
        *,
        nodeid: str,
        spec,
        meter_factory,
        default_variant: str,
        work_model_factory=None,
        pacer=None,
        variant_param=None,
        repeat: int = 1,
        cache_dir=None,
    ):
        self._meter_factory = meter_factory
        self._work_model_factory = work_model_factory  # () -> WorkModel | None
        self._pacer = pacer  # DuetPacer: step repeats together with the other side of a duet
        self._cache_dir = cache_dir
        self.repeat = repeat
        self.record = Record(
            nodeid=nodeid,
            task=spec.task,
            variant=default_variant,
            reference=bool(spec.reference),
            metric=spec.metric,
            higher_is_better=spec.higher_is_better if spec.higher_is_better is not None else True,
        )
        self._variant_set = False  # a name set by the test wins over prepare()'s
        self._trainable_set = False  # so does a declared T_M (a full fine-tune)
        self._open: list[WindowHandle] = []  # windows open now, innermost last
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
        self.record.reference = value

    @property
    def trainable_params(self) -> int | None:
        return self.record.trainable_params

    @trainable_params.setter
    def trainable_params(self, value: int) -> None:
        __tracebackhide__ = True
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CegiUsageError(f"cegi.trainable_params must be a whole number >= 0, got {value!r}")
        self.record.trainable_params, self._trainable_set = value, True

    # -- measurement ---------------------------------------------------------------------
    @contextlib.contextmanager
    def measure(
        self, phase: str = "inference", *, requests: int | None = None, count: bool | None = None
    ) -> Iterator[WindowHandle]:
        """Measure the body of the `with` block as one window of `phase`.

        requests: how many requests (prompts, queries) the window serves; needed for
        per-request figures and deployment projections.

        count: count the block's work for its modelled energy. The body runs once, so it
        is counted while it is measured, and its measured figure includes the counter's
        overhead. Default: yes, except for `phase="finetune"` (counting a fine-tune took
        2.6x its CPU time, and its measured energy feeds CEGI).

        A `with` block cannot re-run its body, so under `--cegi-repeat N` it is measured
        once and the test says so; `for run in cegi.repeated(): with run: ...` repeats.
        """
        __tracebackhide__ = True
        _check_phase(phase)
        _check_requests(requests)
        if self.repeat > 1:
            self._note_measured_once(phase)
        meter = self._meter_factory()
        counted: dict = {}
        if count is True and "torch" not in sys.modules:  # asked for, and nothing can be counted: say so
            why = f"cegi.measure({phase!r}, count=True): torch was not imported, so no work was counted"
            if why not in self.record.notes:
                self.record.notes.append(why)
        if count is None:
            count = phase != "finetune"
        with self._window(meter, phase) as handle:
            if count and _should_count_work(meter) and self._work_model() is not None:
                with self._counting(counted):
                    yield handle
            else:
                yield handle
        window = handle.finished(requests)
        if "work" in counted:
            # The body cannot run twice, so it was counted while measured: the measured
            # figure includes the counter's overhead (docs/meters.md); the modelled one is exact.
            window = dataclasses.replace(window, details={**window.details, "counted_inside": True})
            window = self._modelled(window, counted)
        handle.result = window  # what the caller keeps (the adapter cache stores it) is what the record holds
        self.record.windows.append(window)

    def repeated(self, phase: str = "inference", *, requests: int | None = None) -> Iterator[RepeatWindow]:
        """Repeat a block `--cegi-repeat` times, each run one measured window::

            for run in cegi.repeated():
                with run:
                    predictions = handle.generate(prompts)

        Before the measured runs comes one unmeasured run that counts the block's
        FLOPs with torch's counter (counting slows torch down several-fold, so it never
        runs inside a measured window); it also warms caches up. The record gets one
        window: the mean of the runs, every run's energy kept as a sample for
        significance tests, and the FLOPs and tokens of one run.
        """
        __tracebackhide__ = True
        _check_phase(phase)
        _check_requests(requests)
        meter = self._meter_factory()
        counted: dict = {}
        windows: list[Window] = []
        if _should_count_work(meter) and self._work_model() is not None:
            run = RepeatWindow(self._counting_pass(counted))
            yield run
            run.check_used()
        together = 0
        for i in range(self.repeat):
            if self._pacer is not None:  # outside the window: waiting is not the block's cost
                together += self._pacer.wait(f"{self.record.nodeid} {phase} {len(self.record.windows)} {i}")
            handle_box: list[WindowHandle] = []
            run = RepeatWindow(self._collect(meter, phase, handle_box))
            yield run
            run.check_used()
            if self._pacer is not None:
                self._pacer.done()
            windows.append(handle_box[0].finished(requests))
        combined = _combine(windows)
        if self._pacer is not None:
            duet = {"role": self._pacer.role, "mode": self._pacer.mode, "repeats_together": together}
            combined = dataclasses.replace(combined, details={**combined.details, "duet": duet})
        if "work" in counted:
            combined = self._modelled(combined, counted)
        self.record.windows.append(combined)

    def measure_call(self, fn, *args, phase: str = "inference", requests: int | None = None, **kwargs):
        """Call `fn(*args, **kwargs)` under `cegi.repeated()` and return its last result."""
        __tracebackhide__ = True
        result = None
        for run in self.repeated(phase, requests=requests):
            with run:
                result = fn(*args, **kwargs)
        return result

    def count_requests(self, n: int) -> None:
        """Add `n` served requests to the open window (prepared variants' generate()
        calls this, so `requests=` is only needed for your own inference code)."""
        if self._open:
            self._open[-1].requests += n

    def count_tokens(self, n: int) -> None:
        """Add `n` processed tokens (read and written) to the open window."""
        if self._open:
            self._open[-1].tokens += n

    @contextlib.contextmanager
    def _collect(self, meter, phase: str, box: list) -> Iterator[WindowHandle]:
        with self._window(meter, phase) as handle:
            yield handle
        box.append(handle)

    @contextlib.contextmanager
    def _counting_pass(self, out: dict) -> Iterator[WindowHandle]:
        """An unmeasured run under the work counter; its counts go nowhere else."""
        handle = WindowHandle("counting")
        self._open.append(handle)  # requests and tokens of this run are not the window's
        try:
            with self._counting(out):
                yield handle
        finally:
            self._open.pop()

    @contextlib.contextmanager
    def _counting(self, out: dict) -> Iterator[None]:
        """Count the body's work into out["work"], and how long counting took."""
        from pytest_cegi.measure.work import counting

        started = time.perf_counter()
        with counting() as work:
            yield
        out["work"], out["seconds"] = work, time.perf_counter() - started

    def _work_model(self):
        return self._work_model_factory() if self._work_model_factory is not None else None

    def _modelled(self, window: Window, counted: dict) -> Window:
        """The window with its counted work priced by the session's work model."""
        model = self._work_model()
        if model is None:
            return window
        window = model.apply(window, counted["work"])
        return dataclasses.replace(window, details={**window.details, "counting_s": counted["seconds"]})

    def _note_measured_once(self, phase: str) -> None:
        if phase == "finetune":
            why = "fine-tuning was measured once: training changes the model, so --cegi-repeat cannot re-run it"
        else:
            why = (
                f"--cegi-repeat {self.repeat}: a `with cegi.measure()` block ran once (a with block "
                f"cannot re-run its body); use `for run in cegi.repeated(): with run: ...` or "
                f"cegi.measure_call() to repeat it"
            )
        if why not in self.record.notes:
            self.record.notes.append(why)

    @contextlib.contextmanager
    def _window(self, meter, phase: str) -> Iterator[WindowHandle]:
        """A meter window that count_requests() can find while it is open."""
        with meter.window(phase) as handle:
            self._open.append(handle)
            try:
                yield handle
            finally:
                self._open.pop()

    def add_window(self, window: Window) -> None:
        """Attach a window measured elsewhere."""
        self.record.windows.append(window)

    def meter_identity(self) -> str:
        """Which meter (and device model) this session's windows come from; the adapter
        cache replays only windows with the same identity. (Fine-tuning windows are not
        counted, so the work model's profile is not part of it.)"""
        return str(self._meter_factory().cache_identity())

    def replay_window(self, window: Window) -> None:
        """Attach a fine-tuning window from the adapter cache, marked cached, its
        emissions re-expressed with this session's carbon factor."""
        method = self._meter_factory().method()
        factor = method.carbon_factor_g_per_kwh
        if isinstance(factor, (int, float)) and math.isfinite(factor):
            window = dataclasses.replace(
                window,
                emissions_kg=window.energy_kwh * factor / 1000.0,
                modelled_emissions_kg=(
                    None if window.modelled_energy_kwh is None else window.modelled_energy_kwh * factor / 1000.0
                ),
                machine_emissions_kg=(
                    None if window.machine_energy_kwh is None else window.machine_energy_kwh * factor / 1000.0
                ),
                samples=window.samples,
                method=dataclasses.replace(
                    window.method, carbon_factor_g_per_kwh=factor, carbon_factor_source=method.carbon_factor_source
                ),
            )
        self.record.windows.append(dataclasses.replace(window, cached=True))

    # -- scores --------------------------------------------------------------------------
    def record_score(self, value: float, metric: str | None = None, *, higher_is_better: bool | None = None) -> None:
        __tracebackhide__ = True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # numpy and torch scalars convert; anything else is a mistake
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise CegiUsageError(
                    f"cegi.record_score needs a number, got {type(value).__name__} {value!r}"
                ) from None
        value = float(value)
        if not math.isfinite(value):
            raise CegiUsageError(
                f"cegi.record_score got a non-finite score {value!r} "
                f"for {self.record.nodeid}; a score must be a finite number"
            )
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
        # "rouge:rougeL" says which of a metric's scores was recorded; "bleu" needs no key
        label = result.name if result.key == result.name else f"{result.name}:{result.key}"
        self.record_score(result.value, metric=label, higher_is_better=result.higher_is_better)
        self.record.score_details = {k: v for k, v in result.details.items() if _jsonable(v)}
        return dict(result.scores)

    # -- model variants ------------------------------------------------------------------
    def prepare(self, variant, train=None, **finetune_kw):
        """Load (and fine-tune, for LoRA variants with data) a `pytest_cegi.Variant`."""
        __tracebackhide__ = True
        from pytest_cegi.models import variants

        if not isinstance(variant, variants.Variant):
            raise CegiUsageError(f"cegi.prepare needs a pytest_cegi.Variant, got {type(variant).__name__}")
        if not self._variant_set:
            self.record.variant = variant.name
        try:
            prepared = variants.prepare(variant, train=train, recorder=self, cache_dir=self._cache_dir, **finetune_kw)
        except variants.VariantUnavailable as exc:
            import pytest

            pytest.skip(str(exc))
        prepared.on_requests = self.count_requests
        prepared.on_tokens = self.count_tokens
        meta = dict(prepared.metadata)
        if not self._trainable_set:
            self.record.trainable_params = meta.get("trainable_params")
        self.record.total_params = meta.get("total_params")
        self.record.quantization = meta.get("quantization")
        self.record.lora_rank = meta.get("lora_rank")
        self.record.variant_meta = meta
        return prepared

    def __repr__(self) -> str:
        return f"<cegi {self.record.task}/{self.record.variant}>"


def _check_phase(phase) -> None:
    if not isinstance(phase, str) or not phase:
        raise CegiUsageError(f"phase must be a non-empty string, got {phase!r}")


def _check_requests(requests) -> None:
    if requests is not None and (isinstance(requests, bool) or not isinstance(requests, int) or requests < 1):
        raise CegiUsageError(f"requests must be a whole number >= 1, got {requests!r}")


def _combine(windows: list[Window]) -> Window:
    """One window standing for N repeats: mean figures, per-repeat energy samples.
    Any invalid repeat makes the whole window invalid."""
    bad = next((w for w in windows if w.invalid_reason), None)
    if bad is not None:
        return dataclasses.replace(bad, samples=tuple(w.energy_kwh for w in windows))
    if len(windows) == 1:
        return windows[0]

    def mean(attr: str) -> float:
        return statistics.fmean(getattr(w, attr) for w in windows)

    def mean_or_none(attr: str) -> float | None:
        values = [getattr(w, attr) for w in windows]
        return None if any(v is None for v in values) else statistics.fmean(values)

    return dataclasses.replace(
        windows[0],
        energy_kwh=mean("energy_kwh"),
        emissions_kg=mean("emissions_kg"),
        duration_s=mean("duration_s"),
        cpu_energy_kwh=mean("cpu_energy_kwh"),
        gpu_energy_kwh=mean("gpu_energy_kwh"),
        ram_energy_kwh=mean("ram_energy_kwh"),
        machine_energy_kwh=mean_or_none("machine_energy_kwh"),
        machine_emissions_kg=mean_or_none("machine_emissions_kg"),
        cpu_seconds=mean_or_none("cpu_seconds"),
        samples=tuple(w.energy_kwh for w in windows),
        details={**windows[0].details, **_machine_samples(windows)},
    )


def _machine_samples(windows: list[Window]) -> dict:
    """Per-repeat machine-level readings, kept so the two figures can be compared later."""
    values = [w.machine_energy_kwh for w in windows]
    return {} if any(v is None for v in values) else {"machine_samples": values}


def _jsonable(value) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict))


def loaded_variant_class():
    """The Variant class if its module is already imported (never import torch stacks here)."""
    module = sys.modules.get("pytest_cegi.models.variants")
    return getattr(module, "Variant", None)
