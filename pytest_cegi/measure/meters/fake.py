"""A deterministic meter for tests of the plugin itself (`--cegi-meter=fake`).

Each window costs a fixed energy, so a test controls its total by how many
windows it opens. The per-window energy comes from `CEGI_FAKE_KWH` (default
1e-6 kWh); set it to 0 to produce invalid windows. A comma-separated list
("1e-6,1.2e-6,0.9e-6") is used in turn, window after window, to imitate noise.
`CEGI_FAKE_KWH_<PHASE>` (e.g. `CEGI_FAKE_KWH_INFERENCE`) sets one phase's windows
apart, so a test can make inference costlier while its fine-tune stays the same.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterator

from pytest_cegi.core.meter_traits import METER_TRAITS
from pytest_cegi.core.window import Method, Window, WindowHandle


class FakeMeter:
    name = "fake"
    traits = METER_TRAITS["fake"]

    def __init__(self, carbon):
        self._carbon = carbon
        self._energies = _cycle(os.environ.get("CEGI_FAKE_KWH", "1e-6"))
        self._by_phase: dict[str, tuple[str, Iterator[float]]] = {}

    def _next_energy(self, phase: str) -> float:
        own = os.environ.get(f"CEGI_FAKE_KWH_{phase.upper()}")
        if own is None:
            return next(self._energies)
        if self._by_phase.get(phase, ("",))[0] != own:  # read when it changes, so a test can set it
            self._by_phase[phase] = (own, _cycle(own))
        return next(self._by_phase[phase][1])

    def method(self) -> Method:
        return Method(
            meter=self.name,
            cpu="fake",
            gpu="none",
            carbon_factor_g_per_kwh=self._factor(),
            carbon_factor_source=self._carbon.source,
            estimate=True,
        )

    def _factor(self) -> float:
        return self._carbon.intensity_g_per_kwh if self._carbon.intensity_g_per_kwh is not None else 475.0

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[WindowHandle]:
        handle = WindowHandle(phase)
        started = time.perf_counter()
        try:
            yield handle
        finally:
            energy = self._next_energy(phase)
            handle.result = Window(
                phase=phase,
                energy_kwh=energy,
                emissions_kg=energy * self._factor() / 1000.0,
                duration_s=time.perf_counter() - started,
                method=self.method(),
                cpu_energy_kwh=energy,
            )

    def cache_identity(self) -> str:
        return "fake"

    def close(self) -> None:
        pass


def _cycle(values: str) -> Iterator[float]:
    return itertools.cycle([float(v) for v in values.split(",")])
