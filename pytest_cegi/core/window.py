"""A measured window and how it was measured: the plain data every layer passes around.

Meters (pytest_cegi.measure.meters) produce them, records hold them, the run file
stores them, judgement and reports read them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Method:
    """How a window's figures were obtained; shown in every report."""

    meter: str  # "codecarbon", "flops", "fake"
    cpu: str  # "RAPL", "modelled (TDP x load)", "none", ...
    gpu: str  # "NVML", "none"
    carbon_factor_g_per_kwh: float
    carbon_factor_source: str  # "--cegi-carbon-intensity", "country USA (codecarbon data)", ...
    estimate: bool  # True when energy is modelled rather than metered
    # Which figure `energy_kwh` is: "attributed" (the test process's own work; the
    # machine-level reading is kept beside it), "machine" (everything the machine
    # drew while the window was open), or "flops" (counted FLOPs x a device profile).
    basis: str = "machine"
    ram: str = ""  # how RAM energy was obtained, when the meter has any

    def label(self) -> str:
        """One line for people: measured or modelled, by what, and the carbon factor."""
        kind = measurement_kind(self.estimate)
        factor = self.carbon_factor_g_per_kwh
        known = isinstance(factor, (int, float)) and factor == factor  # None or NaN: unknown
        factor_text = f"{factor:.4g} g CO2e/kWh" if known else "unknown factor"
        basis = f"{self.basis} energy, " if self.basis != "machine" else ""
        ram = f", RAM {self.ram}" if self.ram else ""
        return (
            f"{basis}{kind} with {self.meter}: CPU {self.cpu}, GPU {self.gpu}{ram}; "
            f"carbon factor {factor_text} from {self.carbon_factor_source}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measurement_kind(estimate: object) -> str:
    """ "modelled" for an estimate, else "measured": the one wording every report uses."""
    return "modelled" if estimate else "measured"


def meter_identity(meter: Method | None) -> str:
    """A meter as the short name two runs' meters are compared by:
    "codecarbon (measured; cpu RAPL; gpu none)"; "" for no meter."""
    if meter is None:
        return ""
    return f"{meter.meter} ({measurement_kind(meter.estimate)}; cpu {meter.cpu}; gpu {meter.gpu})"


@dataclass(frozen=True)
class Window:
    """One measured window of work."""

    phase: str
    energy_kwh: float
    emissions_kg: float
    duration_s: float
    method: Method
    cpu_energy_kwh: float = 0.0
    gpu_energy_kwh: float = 0.0
    ram_energy_kwh: float = 0.0
    error: str | None = None  # tracker error text; makes the window invalid
    cached: bool = False  # replayed from the adapter cache, not run now
    samples: tuple[float, ...] = ()  # per-repeat energy samples (kWh), when repeated
    requests: int | None = None  # requests served in the window (one repeat's worth)
    details: dict[str, Any] = field(default_factory=dict)  # meter-specific figures (JSON), e.g. FLOP counts
    # The machine-level reading beside an attributed figure (None when the meter has none).
    machine_energy_kwh: float | None = None
    machine_emissions_kg: float | None = None
    cpu_seconds: float | None = None  # the process's CPU time in the window (one repeat's worth)
    # Hardware-independent cost of one repeat: FLOPs counted by torch (in a separate,
    # unmeasured pass, or by the flops meter itself) and tokens processed.
    flops: int | None = None
    tokens: int | None = None
    # Counted work of one repeat (FLOPs by class, bytes moved, op dispatches, forward
    # passes: pytest_cegi.measure.work) and the configuration it ran under.
    work: dict[str, Any] | None = None
    fingerprint: dict[str, Any] | None = None
    # Energy and emissions modelled from `work` by a device profile, whatever the meter
    # measured: identical for identical work on every machine that uses the profile.
    modelled_energy_kwh: float | None = None
    modelled_emissions_kg: float | None = None
    modelled_by: str | None = None  # "modelled from counted work (...), profile generic-cpu@2"

    @property
    def invalid_reason(self) -> str | None:
        """Why this window cannot be trusted, or None. Every consumer (checks, verdicts,
        the adapter cache, calibration) asks here, so a tracker fault is caught once."""
        if self.error:
            return f"tracker error in {self.phase} window: {self.error}"
        bad = _bad_figure(self)
        if bad:
            return f"{self.phase} window has {bad}"
        if not self.energy_kwh > 0:
            why = self.details.get("why_zero")
            return f"{self.phase} window measured no energy ({self.energy_kwh:g} kWh)" + (f": {why}" if why else "")
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["samples"] = list(self.samples)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Window:
        d = dict(d)
        d["method"] = Method(**d["method"])
        # A figure the file could not hold (inf or NaN: JSON has neither) was stored as
        # null; in memory it is non-finite again, so totals stay numbers and the window
        # stays invalid for the same reason.
        for name in _FIGURES:
            if d.get(name, 0.0) is None:
                d[name] = math.nan
        d.setdefault("details", {})
        d["samples"] = tuple(d.get("samples", ()))
        return cls(**d)


# Figures a tracker fault can corrupt; each must be a finite number >= 0 (None allowed
# for the optional ones). Negative emissions would make CEGI negative and pass any ceiling.
_FIGURES = ("energy_kwh", "emissions_kg", "duration_s", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh")
_OPTIONAL_FIGURES = (
    "machine_energy_kwh",
    "machine_emissions_kg",
    "cpu_seconds",
    "modelled_energy_kwh",
    "modelled_emissions_kg",
)


def _bad_figure(window: Window) -> str | None:
    for name in _FIGURES + _OPTIONAL_FIGURES:
        value = getattr(window, name)
        if value is None and name in _OPTIONAL_FIGURES:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"a non-numeric {name} ({value!r})"
        if not math.isfinite(value):
            return f"a non-finite {name} ({value!r})"
        if value < 0:
            unit = "s" if name.endswith("_s") or name == "cpu_seconds" else ""
            return f"a negative {name} ({value:g}{unit and ' ' + unit})"
    for sample in window.samples:
        if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not math.isfinite(sample) or sample < 0:
            return f"an invalid energy sample ({sample!r})"
    return None


@dataclass
class WindowHandle:
    """What `Meter.window()` yields; `result` is set when the window closes."""

    phase: str
    result: Window | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # meter-specific figures, saved as Window.details
    requests: int = 0  # counted while open (cegi.count_requests)
    tokens: int = 0  # counted while open (cegi.count_tokens)
    work: Any = None  # a WorkCount, when the meter counted the window's work itself

    def finished(self, requests: int | None = None) -> Window:
        """The closed window, with its counts and the JSON-safe part of the notes."""
        assert self.result is not None, "finished() before the window closed"
        details = {
            k: v for k, v in self.notes.items() if isinstance(v, (str, int, float, bool, type(None), list, dict))
        }
        return replace(
            self.result,
            requests=requests or self.requests or None,
            details=details,
            tokens=self.tokens or self.result.tokens,
        )
