"""What one measured test produced, in a form every report and baseline shares.

A `Record` is built by the `cegi` fixture during the test, finished (gain, CEGI,
checks, verdict) in `pytest_runtest_makereport`, then travels on the test report
as a plain dict (so pytest-xdist can ship it) and is collected by the process that
writes reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict, TypeVar

from pytest_cegi.core.window import Method, Window

# Fingerprint keys compared between runs (a window also keeps the raw input shapes).
FINGERPRINT_KEYS = ("torch_threads", "attn_implementation", "model_dtype", "flop_dtypes", "batch_sizes")

# error: the test itself raised (its figures are incomplete); it outranks every other.
VERDICTS = ("pass", "fail", "warn", "invalid", "error")


@dataclass
class Check:
    """One limit applied to one record."""

    limit: str  # "floor", "ceiling", "max_emissions", "max_energy", "regression:emissions", ...
    threshold: float | None  # the limit's value in base units
    value: float | None  # the measured value compared with it
    source: str  # where the limit came from: "marker", "pyproject.toml budget #2", ...
    status: str  # "pass", "fail" (violated), "invalid" (could not be evaluated)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ShownLimit(TypedDict):
    """One entry of `Record.limits`: a limit shown beside the test's figures."""

    value: float | None  # None: lifted by a budget entry's `false`
    source: str


class PhaseTotals(TypedDict):
    """One phase of `Record.phases()`: its windows' figures added up."""

    energy_kwh: float
    emissions_kg: float
    duration_s: float
    windows: int
    cached: bool


@dataclass
class Record:
    nodeid: str
    task: str
    variant: str
    reference: bool = False
    metric: str | None = None
    score: float | None = None
    higher_is_better: bool = True
    gain_mode: str = "relative"
    phases_counted: list[str] | None = None  # phases that count towards E (None: all)
    trainable_params: int | None = None
    total_params: int | None = None
    quantization: str | None = None
    lora_rank: int | None = None
    variant_meta: dict[str, Any] = field(default_factory=dict)
    score_details: dict[str, Any] = field(default_factory=dict)  # e.g. the sacrebleu signature
    windows: list[Window] = field(default_factory=list)
    # Filled when the test finishes:
    reference_score: float | None = None
    gain_pct: float | None = None
    cegi: float | None = None
    cegi_reason: str | None = None
    cegi_applicable: bool = True  # False: nothing trained (T_M = 0), no CEGI owed
    carbon_per_gain: float | None = None
    checks: list[Check] = field(default_factory=list)
    verdict: str = "pass"
    outcome: str = "passed"  # the test's own outcome
    deployment: dict[str, float] | None = None  # declared serving volume (budget entry/marker)
    max_regression: dict[str, str | None] | None = None  # tolerance texts set for this test (None: lifted)
    max_regression_source: str | None = None  # the budget entry (or marker) that set them
    limits: dict[str, ShownLimit] = field(default_factory=dict)  # floor/ceiling/max_emissions/max_energy
    error: str | None = None  # what the test raised, e.g. "ValueError: boom"
    reruns: int = 0  # earlier attempts (pytest-rerunfailures)
    rerun_energy_kwh: float = 0.0  # what those attempts measured; not in this record's E
    rerun_emissions_kg: float = 0.0
    notes: list[str] = field(default_factory=list)  # things the user must know, e.g. "measured once"
    # Scale-out (schema_version 2): the GPU this test's windows were metered on, when an
    # xdist worker was pinned to one (None: not pinned, the machine's GPUs if any); in a
    # merged run, the shard the record came from and the machine that shard ran on
    # (None: the run's own machine).
    device: str | None = None
    shard: str | None = None
    machine: dict[str, Any] | None = None

    @property
    def requests(self) -> int | None:
        """Requests served by the inference windows, or None if any window did not say."""
        return _total_or_none(w.requests for w in self.windows if w.phase == "inference")

    # -- figures over windows -------------------------------------------------
    def counted_windows(self) -> list[Window]:
        if not self.phases_counted:
            return list(self.windows)
        return [w for w in self.windows if w.phase in self.phases_counted]

    @property
    def energy_kwh(self) -> float:
        return sum(w.energy_kwh for w in self.counted_windows())

    @property
    def emissions_kg(self) -> float:
        return sum(w.emissions_kg for w in self.counted_windows())

    @property
    def machine_energy_kwh(self) -> float | None:
        """The machine-level reading beside attributed energy; None if a window lacks it."""
        return _total_or_none(w.machine_energy_kwh for w in self.counted_windows())

    @property
    def flops(self) -> int | None:
        """FLOPs of one repeat of every counted window; None if any window was not counted."""
        return _total_or_none(w.flops for w in self.counted_windows())

    @property
    def tokens(self) -> int | None:
        return _total_or_none(w.tokens for w in self.counted_windows())

    def cost(self) -> tuple[int, str] | None:
        """The hardware-independent cost: (value, basis), FLOPs where any window counted
        them, else tokens. The basis names the unit and the windows it covers, so two
        runs are compared only when they counted the same thing."""
        windows = self.counted_windows()
        for unit, attr in (("FLOPs", "flops"), ("tokens", "tokens")):
            covered = [w for w in windows if getattr(w, attr) is not None]
            if covered:
                phases = ", ".join(sorted({w.phase for w in covered}))
                part = "" if len(covered) == len(windows) else f"; {len(covered)} of {len(windows)} windows"
                return sum(getattr(w, attr) for w in covered), f"{unit} ({phases}{part})"
        return None

    @property
    def duration_s(self) -> float:
        return sum(w.duration_s for w in self.counted_windows())

    # -- the work model: modelled from counted work, beside what the meter measured --
    def modelled_windows(self) -> list[Window]:
        return [w for w in self.counted_windows() if w.modelled_energy_kwh is not None]

    @property
    def modelled_energy_kwh(self) -> float | None:
        """Energy modelled from the counted work of the windows that were counted (see
        `modelled_basis`); None if none was."""
        windows = self.modelled_windows()
        return sum(w.modelled_energy_kwh or 0.0 for w in windows) if windows else None

    @property
    def modelled_emissions_kg(self) -> float | None:
        windows = self.modelled_windows()
        return sum(w.modelled_emissions_kg or 0.0 for w in windows) if windows else None

    @property
    def modelled_basis(self) -> str | None:
        """Which windows the modelled figures cover, as the cost basis names them
        ("inference", "finetune, inference", "inference; 1 of 2 windows"): two runs'
        modelled figures compare only over the same windows."""
        windows, every = self.modelled_windows(), self.counted_windows()
        if not windows:
            return None
        phases = ", ".join(sorted({w.phase for w in windows}))
        return phases if len(windows) == len(every) else f"{phases}; {len(windows)} of {len(every)} windows"

    @property
    def modelled_by(self) -> str | None:
        """The profile (and what it priced) behind the modelled figures; windows priced
        by different profiles are listed, joined, so they never compare as one."""
        labels = sorted({w.modelled_by for w in self.counted_windows() if w.modelled_by})
        return "; ".join(labels) or None

    def fingerprint(self) -> dict[str, list[Any]]:
        """The configuration the counted work ran under, over all counted windows:
        each key a sorted list of the values seen (see measure/work.py)."""
        merged: dict[str, set[Any]] = {}
        for w in self.counted_windows():
            for key, value in (w.fingerprint or {}).items():
                if key in FINGERPRINT_KEYS:
                    values = value if isinstance(value, list) else [value]
                    merged.setdefault(key, set()).update(v for v in values if v is not None)
        kernel_path = self.variant_meta.get("kernel_path")
        if kernel_path:
            merged["kernel_path"] = {kernel_path}
        return {k: sorted(merged[k], key=str) for k in FINGERPRINT_KEYS + ("kernel_path",) if merged.get(k)}

    @property
    def cached(self) -> bool:
        return any(w.cached for w in self.windows)

    @property
    def measured(self) -> bool:
        return bool(self.windows)

    @property
    def estimate(self) -> bool:
        return any(w.method.estimate for w in self.windows)

    @property
    def method(self) -> Method | None:
        return self.windows[0].method if self.windows else None

    def phases(self) -> dict[str, PhaseTotals]:
        out: dict[str, PhaseTotals] = {}
        for w in self.windows:
            p = out.setdefault(
                w.phase, {"energy_kwh": 0.0, "emissions_kg": 0.0, "duration_s": 0.0, "windows": 0, "cached": False}
            )
            p["energy_kwh"] += w.energy_kwh
            p["emissions_kg"] += w.emissions_kg
            p["duration_s"] += w.duration_s
            p["windows"] += 1
            p["cached"] = p["cached"] or w.cached
        return out

    def invalid_reasons(self) -> list[str]:
        return [r for r in (w.invalid_reason for w in self.windows) if r]

    # -- serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["windows"] = [w.to_dict() for w in self.windows]
        d["checks"] = [c.to_dict() for c in self.checks]
        d.update(
            energy_kwh=self.energy_kwh,
            emissions_kg=self.emissions_kg,
            duration_s=self.duration_s,
            cached=self.cached,
            estimate=self.estimate,
            phases=self.phases(),
            requests=self.requests,
            machine_energy_kwh=self.machine_energy_kwh,
            flops=self.flops,
            tokens=self.tokens,
            cost=(self.cost() or (None, None))[0],
            cost_basis=(self.cost() or (None, None))[1],
            modelled_energy_kwh=self.modelled_energy_kwh,
            modelled_emissions_kg=self.modelled_emissions_kg,
            modelled_by=self.modelled_by,
            modelled_basis=self.modelled_basis,
            fingerprint=self.fingerprint(),
            method=self.method.to_dict() if self.method else None,
        )
        return {k: _json_safe(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["windows"] = [Window.from_dict(w) for w in d.get("windows", [])]
        kw["checks"] = [Check(**c) for c in d.get("checks", [])]
        return cls(**kw)


_Number = TypeVar("_Number", int, float)


def _total_or_none(values: Iterable[_Number | None]) -> _Number | None:
    """The sum, or None when there are no values or any of them is None."""
    items = list(values)
    known = [v for v in items if v is not None]
    return None if not items or len(known) < len(items) else sum(known)


def _json_safe(value: object) -> object:
    """JSON has no inf/nan: store them as None so files stay standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
