"""The work model alone as a meter (`--cegi-meter=flops`): counted work x a device profile.

Each window counts the torch work inside it (`pytest_cegi.measure.work`: FLOPs by
dtype class, bytes moved, op dispatches) and prices it with a versioned device
profile (`pytest_cegi.measure.profile`). The window's energy *is* the modelled energy,
a pure function of the counts and the profile: the same code gives bit-identical
energy on every run and every machine. `duration_s` is the real wall time of the
window, for information only; energy never depends on it.

Under the other meters every window carries the same modelled figures beside the
measured ones (the fixture counts their work); here no tracker runs at all. What the
model does not see is in docs/meters.md. A window that runs no counted op gets 0
energy, hence is *invalid* by the core's rules: an honest "nothing measured", never a
silent pass. The meter keeps the name `flops` (a contract name) from when it counted
FLOPs only.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from pytest_cegi.core.carbon import carbon_factor
from pytest_cegi.core.meter_traits import METER_TRAITS
from pytest_cegi.core.window import Method, Window, WindowHandle
from pytest_cegi.measure.meters.base import synchronize_accelerators
from pytest_cegi.measure.profile import Profile, load_profile
from pytest_cegi.measure.work import counting
from pytest_cegi.measure.work_model import WorkModel


class FlopsMeter:
    name = "flops"
    traits = METER_TRAITS["flops"]

    def __init__(self, carbon, profile: str | os.PathLike | Profile | None = None):
        """`carbon` is the resolved `settings.Carbon`; `profile` a Profile, a built-in
        name or a path (default: `$CEGI_FLOPS_PROFILE`, else `generic-cpu`).
        Raises ProfileError for a profile that cannot be loaded."""
        self._carbon = carbon
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self._factor: tuple[float, str] | None = None
        self._method: Method | None = None

    def _carbon_factor(self) -> tuple[float, str]:
        if self._factor is None:
            self._factor = carbon_factor(self._carbon)
        return self._factor

    def method(self) -> Method:
        if self._method is None:
            label = f"modelled (flops, profile {self.profile.label})"
            factor, source = self._carbon_factor()
            self._method = Method(
                meter=self.name,
                cpu=label if self.profile.device == "cpu" else "none",
                gpu=label if self.profile.device == "gpu" else "none",
                carbon_factor_g_per_kwh=factor,
                carbon_factor_source=source,
                estimate=True,
                basis="flops",
            )
        return self._method

    def work_model(self) -> WorkModel:
        """The model this meter's energy is: the same one every window carries."""
        return WorkModel(self.profile, self._carbon_factor()[0])

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[WindowHandle]:
        handle = WindowHandle(phase)
        error = counter = work = None
        try:
            import torch  # noqa: F401  (only now: sessions that never measure never import it)
        except ImportError as exc:
            error = (
                f"the flops meter needs torch, which is not importable ({exc}); "
                f"install it (pip install 'pytest-cegi[models]') or use --cegi-meter=codecarbon"
            )
        else:
            try:
                synchronize_accelerators()
                started_counter = counting()
                work = started_counter.__enter__()
                counter = started_counter  # entered: must be exited
            except Exception as exc:
                error = f"work counter could not start: {type(exc).__name__}: {exc}"
        started = time.perf_counter()
        try:
            yield handle
        finally:
            if counter is not None:
                try:
                    counter.__exit__(None, None, None)
                except Exception as exc:
                    error = f"work counter failed: {type(exc).__name__}: {exc}"
            synchronize_accelerators()
            elapsed = time.perf_counter() - started
            handle.result = self._to_window(phase, work if error is None else None, elapsed, error, handle)

    def _to_window(self, phase, work, elapsed, error, handle) -> Window:
        method = self.method()
        if work is None:
            return Window(phase=phase, energy_kwh=0.0, emissions_kg=0.0, duration_s=elapsed, method=method, error=error)
        handle.work = work
        model = self.work_model()
        priced = model.price(work)
        energy_kwh = priced.energy_kwh
        handle.notes.update(
            flops=work.flops.nonzero(),
            flops_total=work.flops.total,
            flops_by_op=dict(work.flops.by_op),
            profile=self.profile.label,
            estimated_s=priced.seconds,
            dynamic_j=priced.dynamic_j,
            static_j=priced.static_j,
            joules_by_unit=priced.parts_j,
        )
        if work.flops.unpriced:
            handle.notes["unpriced_dtypes"] = sorted(work.flops.unpriced)
        if priced.joules == 0:
            handle.notes["why_zero"] = (
                "no counted torch op ran in this window (pure Python, or work outside torch): "
                "energy 0, so the window is invalid"
            )
        window = Window(
            phase=phase,
            energy_kwh=energy_kwh,
            emissions_kg=energy_kwh * method.carbon_factor_g_per_kwh / 1000.0,
            duration_s=elapsed,
            method=method,
            cpu_energy_kwh=energy_kwh if self.profile.device == "cpu" else 0.0,
            gpu_energy_kwh=energy_kwh if self.profile.device == "gpu" else 0.0,
        )
        return model.apply(window, work, priced)

    def cache_identity(self) -> str:
        """Windows this meter produces are comparable only with its own profile's."""
        return f"flops:{self.profile.label}"

    def close(self) -> None:
        pass
