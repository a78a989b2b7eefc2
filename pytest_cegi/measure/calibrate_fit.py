"""The fit of `pytest-cegi calibrate`: pure functions of counted work and measurements.

Non-negative least squares on log ratios (calibrate.py's docstring has the model);
`calibrate.py` measures the workloads and `calibrate_run.py` fits a saved run's
windows, and both fit here, so neither imports the other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_cegi.measure.meters.flop_formulas import CLASSES
from pytest_cegi.measure.profile import UNITS

# The fitted units: the FLOP classes, then bytes and dispatches (profile keys).
FIT_UNITS: tuple[str, ...] = (*CLASSES, *(key for key, *_ in UNITS))
_WORK_KEY = {key: work_key for key, _, _, work_key in UNITS}
_CLAMP = 1e-6  # a clamped unit costs at most this fraction of any workload's time
_MAX_ITERATIONS = 100  # reweighting steps of the log-ratio fit
_TOLERANCE = 1e-12  # relative change of the coefficients that ends the reweighting


# -- the fit: pure functions of counted work and measurements -----------------------


@dataclass(frozen=True)
class Measurement:
    """One workload: the work of one call and its lowest measured cost per call."""

    name: str
    work: Mapping[str, Any]  # WorkCount.to_dict() of one call
    seconds: float  # time per call (CPU or wall seconds, see Fit.time_basis)
    joules: float  # energy per call


@dataclass
class Fit:
    """The fitted coefficients, per unit in FIT_UNITS that some workload exercised."""

    static_watts: float
    seconds_per_unit: dict[str, float]  # tau_u = 1 / rate (clamped units included)
    joules_per_unit: dict[str, float]
    clamped: list[str] = field(default_factory=list)  # rate fitted as infinite, tau clamped
    unmeasured: list[str] = field(default_factory=list)  # no workload did this unit's work
    diagnostics: dict[str, Any] = field(default_factory=dict)


def unit_amount(work: Mapping[str, Any], unit: str) -> float:
    """How much of `unit` (a class, "bytes" or "dispatch") `work` counts."""
    if unit in _WORK_KEY:
        return float(work.get(_WORK_KEY[unit], 0) or 0)
    return float((work.get("flops") or {}).get(unit, 0) or 0)


def _nnls():
    # NNLS (Lawson-Hanson active set) is easy to get subtly wrong by hand and scipy's
    # is the reference implementation; scipy is imported only here, when calibrating.
    try:
        from scipy.optimize import nnls
    except ImportError as exc:
        raise RuntimeError(
            f"calibration fits its coefficients with scipy's non-negative least squares: pip install scipy ({exc})"
        ) from None
    return nnls


def _log_mean(a: float, b: float) -> float:
    """The logarithmic mean (a - b) / (ln a - ln b), = a when a == b."""
    if abs(a - b) <= 1e-12 * max(a, b):
        return (a + b) / 2
    return (a - b) / (math.log(a) - math.log(b))


def fit_log_ratios(
    rows: Sequence[Sequence[float]], measured: Sequence[float], offset: Sequence[float] | None = None
) -> tuple[list[float], dict[str, Any]]:
    """x >= 0 minimising sum_w log(m_w / y_w)^2, m_w = rows[w] . x + offset[w].

    Iteratively reweighted NNLS: each step solves sum_w W_w^2 (m_w - y_w)^2 with
    W_w^2 = 1 / (m_w L(m_w, y_w)) from the previous step's m (L the logarithmic
    mean), whose fixed point is exactly the log-ratio optimum. Columns are scaled to
    unit norm for each solve (FLOPs per call are ~1e8, dispatches ~1e3). Returns
    (x, {"iterations", "converged"})."""
    import numpy as np

    nnls = _nnls()
    a = np.asarray(rows, dtype=float)
    y = np.asarray(measured, dtype=float)
    off = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=float)
    if np.any(y <= 0):
        raise ValueError("every measured value must be > 0 to fit log ratios")
    modelled = y.copy()
    x = np.zeros(a.shape[1])
    converged = False
    iterations = 0
    for iterations in range(1, _MAX_ITERATIONS + 1):
        m = np.maximum(modelled, 1e-6 * y)  # a workload the fit prices at 0 still weighs
        weight = 1.0 / np.sqrt(m * np.array([_log_mean(mi, yi) for mi, yi in zip(m, y, strict=True)]))
        aw = a * weight[:, None]
        scale = np.linalg.norm(aw, axis=0)
        scale[scale == 0] = 1.0
        solved, _ = nnls(aw / scale, (y - off) * weight, maxiter=50 * a.shape[1])
        new = solved / scale
        change = np.max(np.abs(new - x) / np.maximum(np.abs(new), 1e-300)) if iterations > 1 else 1.0
        x = new
        modelled = a @ x + off
        if change < _TOLERANCE:
            converged = True
            break
    return [float(v) for v in x], {"iterations": iterations, "converged": converged}


def fit(measurements: Sequence[Measurement], static_watts: float) -> Fit:
    """Fit tau_u and j_u for the units the workloads exercise (see the module doc)."""
    if not measurements:
        raise ValueError("no measurements to fit")
    for m in measurements:
        if not (m.seconds > 0 and m.joules > 0):
            raise ValueError(f"workload {m.name}: time and energy per call must be > 0, got {m.seconds}, {m.joules}")
    units = [u for u in FIT_UNITS if any(unit_amount(m.work, u) > 0 for m in measurements)]
    unmeasured = [u for u in FIT_UNITS if u not in units]
    rows = [[unit_amount(m.work, u) for u in units] for m in measurements]
    taus, time_info = fit_log_ratios(rows, [m.seconds for m in measurements])
    clamped = []
    for i, unit in enumerate(units):
        if taus[i] <= 0:
            # The smallest time per unit any workload of this unit allows, times _CLAMP.
            taus[i] = _CLAMP * min(m.seconds / row[i] for m, row in zip(measurements, rows, strict=True) if row[i] > 0)
            clamped.append(unit)
    modelled_t = [sum(n * tau for n, tau in zip(row, taus, strict=True)) for row in rows]
    joules, energy_info = fit_log_ratios(rows, [m.joules for m in measurements], [static_watts * t for t in modelled_t])
    return Fit(
        static_watts=static_watts,
        seconds_per_unit=dict(zip(units, taus, strict=True)),
        joules_per_unit=dict(zip(units, joules, strict=True)),
        clamped=clamped,
        unmeasured=unmeasured,
        diagnostics={"time_fit": time_info, "energy_fit": energy_info, "units": units},
    )


def residuals(profile, measurements: Sequence[Measurement]) -> dict[str, Any]:
    """Each workload's modelled (by `profile.price`, as the meter prices) / measured
    energy and time per call, and a summary."""
    per: dict[str, dict[str, float]] = {}
    for m in measurements:
        priced = profile.price(m.work)
        per[m.name] = {
            "measured_joules": m.joules,
            "modelled_joules": priced.joules,
            "ratio": priced.joules / m.joules,
            "measured_seconds": m.seconds,
            "modelled_seconds": priced.seconds,
            "time_ratio": priced.seconds / m.seconds,
        }
    logs = {name: abs(math.log(r["ratio"])) if r["ratio"] > 0 else math.inf for name, r in per.items()}
    time_logs = [abs(math.log(r["time_ratio"])) if r["time_ratio"] > 0 else math.inf for r in per.values()]
    worst = max(logs, key=lambda n: logs[n])
    summary = {
        "max_abs_log_ratio": logs[worst],
        "worst": worst,
        "rms_log_ratio": math.sqrt(sum(v * v for v in logs.values()) / len(logs)),
        "max_abs_log_time_ratio": max(time_logs),
    }
    return {"workloads": per, "summary": summary}


def prices(fitted: Fit, base: str | None, why_missing: str) -> tuple[dict, dict, dict[str, str], Any]:
    """The profile's price entries from a fit: (classes, units, not measured, the base
    profile used or None). Units the fit did not see are copied from `base`."""
    from pytest_cegi.measure.profile import load_profile

    fallback = None
    not_measured: dict[str, str] = {}

    def entry(unit: str, joules_key: str, rate_key: str) -> dict[str, Any]:
        nonlocal fallback
        if unit in fitted.seconds_per_unit:
            e: dict[str, Any] = {
                joules_key: fitted.joules_per_unit[unit],
                rate_key: 1.0 / fitted.seconds_per_unit[unit],
            }
            return {**e, "clamped": True} if unit in fitted.clamped else e
        fallback = fallback or load_profile(base)
        not_measured[unit] = why_missing
        price = fallback.classes[unit] if unit in fallback.classes else fallback.units[unit]
        return {joules_key: price.joules, rate_key: price.per_second}

    classes = {cls: entry(cls, "joules_per_flop", "flops_per_second") for cls in CLASSES}
    units = {key: entry(key, joules_key, rate_key) for key, joules_key, rate_key, _ in UNITS}
    return classes, units, not_measured, fallback


def fit_summary(fitted: Fit, per: str) -> dict[str, Any]:
    """How the fit was made, for the profile's `calibration.fit`."""
    return {
        "method": f"non-negative least squares on log(modelled / measured) per {per}, iteratively reweighted "
        f"(scipy.optimize.nnls): time first, then energy minus static_watts x modelled time",
        "units": fitted.diagnostics["units"],
        "time_fit": fitted.diagnostics["time_fit"],
        "energy_fit": fitted.diagnostics["energy_fit"],
        "clamped": fitted.clamped,
        "zero_energy": [u for u, j in fitted.joules_per_unit.items() if j == 0],
    }
