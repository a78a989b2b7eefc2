"""`pytest-cegi calibrate --from-run RUN.json`: fit a profile to your own test suite.

Micro-workloads (`calibrate.py`) price each unit of work where it dominates; real
tests mix them with costs no counter sees (a library's Python per call, thread
hand-offs, a vision tower's shapes). This fits the same linear model to the windows
of a saved run instead: every window that carries counted work (`work`) is one
measurement, its energy the lowest repeat (`samples`, a neighbour only ever adds) and
its time the process's CPU seconds scaled the same way. The fit is calibrate's
(NNLS on log ratios, time first, then energy); units no window exercised are copied
from `--base`. The profile records the run it came from and every window's residual.

Fitted on a run, the profile describes that suite on that machine: judge it on
windows it was not fitted to (`benchmarks/scripts/model_fidelity.py --main-job RUN
--cross-validate` leaves one suite out at a time).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_cegi.core.meter_traits import traits_of
from pytest_cegi.measure.calibrate_fit import Fit, Measurement, fit, fit_summary, prices, residuals
from pytest_cegi.measure.profile import PROFILE_SCHEMA, PROFILE_SCHEMA_VERSION, parse_profile

KWH = 3.6e6  # joules per kWh


class RunCalibrationError(ValueError):
    """A run that cannot be fitted (no counted windows, no measured energy)."""


def window_measurements(run: Mapping[str, Any]) -> tuple[list[Measurement], list[str]]:
    """(a Measurement per counted, measured window, why other windows were left out)."""
    out: list[Measurement] = []
    left_out: list[str] = []
    for record in run.get("records", []):
        for i, w in enumerate(record.get("windows", [])):
            name = f"{record['nodeid']} [{w['phase']} #{i}]"
            if not w.get("work"):
                left_out.append(f"{name}: no counted work")
                continue
            if w.get("cached") or w.get("error"):
                left_out.append(f"{name}: {'replayed from the cache' if w.get('cached') else 'tracker error'}")
                continue
            samples = [s for s in w.get("samples") or [] if s > 0]
            mean = w["energy_kwh"]
            lowest = min(samples) if samples else mean
            seconds = w.get("cpu_seconds") or w["duration_s"]
            if not (lowest > 0 and mean > 0 and seconds > 0):
                left_out.append(f"{name}: no measured energy or time")
                continue
            # The lowest repeat's time: attributed energy is proportional to CPU time.
            out.append(Measurement(name, w["work"], seconds * lowest / mean, lowest * KWH))
    return out, left_out


def fit_run(run: Mapping[str, Any], path: str, *, base: str | None = None) -> dict[str, Any]:
    """A version 2 profile (a dict, validated) fitted to the windows of `run`."""
    meter = run.get("meter") or {}
    if traits_of(meter.get("meter")).counts_work:
        raise RunCalibrationError(f"{path}: its energy is modelled (--cegi-meter=flops); fit a measured run")
    measurements, left_out = window_measurements(run)
    if len(measurements) < 3:
        raise RunCalibrationError(
            f"{path}: {len(measurements)} window(s) with counted work and measured energy; a fit needs at least 3 "
            f"(record the run with pytest-cegi 0.3 or later, with --cegi-repeat 3)"
        )
    fitted: Fit = fit(measurements, static_watts=0.0)  # attributed energy: an idle process is charged nothing
    profile: dict[str, Any] = {
        "schema": PROFILE_SCHEMA,
        "schema_version": PROFILE_SCHEMA_VERSION,
        "name": "fitted-" + Path(path).stem,
        "version": _dt.datetime.now(_dt.timezone.utc).strftime("%Y.%m.%d"),
        "device": "cpu",
        "source": "(set below, once the residuals are known)",
        "static_watts": 0.0,
        "classes": {},
    }
    profile["classes"], units, not_measured, _ = prices(fitted, base, "no window of the run did this work")
    profile.update(units)
    checked = residuals(parse_profile(profile, path), measurements)
    machine = run.get("machine") or {}
    profile["calibration"] = {
        "from_run": path,
        "run_created": run.get("created"),
        "host": machine.get("hostname"),
        "cpu": machine.get("cpu"),
        "cpu_id": machine.get("cpu_id"),
        "energy_basis": meter.get("basis"),
        "codecarbon_cpu": meter.get("cpu"),
        "time_basis": "process CPU seconds (all threads), scaled to the lowest repeat",
        "rule": "per window: the lowest repeat's energy (samples), its CPU time scaled alike",
        "windows": len(measurements),
        "left_out": left_out,
        "fit": fit_summary(fitted, "window"),
        "residuals": checked["workloads"],
        "summary": checked["summary"],
        "not_measured": not_measured,
        "elapsed_s": 0.0,
    }
    profile["source"] = (
        f"pytest-cegi calibrate --from-run {path}: the linear work model fitted by NNLS to "
        f"{len(measurements)} windows of that run (recorded {run.get('created')}, on {machine.get('cpu')}, "
        f"{meter.get('meter')} {meter.get('basis')} energy: {meter.get('cpu')}); energy per window is its lowest "
        f"repeat. Modelled / measured within a factor {math.exp(checked['summary']['max_abs_log_ratio']):.2f} "
        f"(rms log ratio {checked['summary']['rms_log_ratio']:.3f}; calibration.residuals). It describes that "
        f"suite on that machine."
        + (f" Copied from {base or 'generic-cpu'}: {', '.join(sorted(not_measured))}." if not_measured else "")
    )
    return profile


def predictions(profile: Mapping[str, Any], measurements: Sequence[Measurement]) -> dict[str, float]:
    """Modelled joules per measurement under `profile` (as the meter prices)."""
    parsed = parse_profile(dict(profile), "profile")
    return {m.name: parsed.price(m.work).joules for m in measurements}
