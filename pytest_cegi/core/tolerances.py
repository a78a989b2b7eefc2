"""The tolerances of regression checks: which quantities a baseline comparison judges,
the keys `max_regression` takes, and their defaults (`Settings.max_regression` starts
from these; a saved run's file is checked against these keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_cegi.core.units import Tolerance, parse_tolerance

REGRESSION_KEYS = (
    "emissions",
    "energy",
    "score",
    "cegi",
    "cost",
    "modelled_energy",
    "modelled_emissions",
    "single_sample",
)
# cost (FLOPs or tokens) is deterministic: 1 % catches any change of 2 % or more.
# The quantities a baseline comparison judges, in report order; each has a default tolerance.
REGRESSION_QUANTITIES = ("score", "cost", "modelled_energy", "modelled_emissions", "emissions", "energy", "cegi")
# A measured window with fewer than 3 repeats a side is gated against gross changes
# only: beyond 2x either way, wider than one sample's measured spread between sessions
# (docs/ci-gate.md, "One sample a side", with the gate_power.py command behind it).
DEFAULT_SINGLE_SAMPLE_TOLERANCE = "100%"
# Counted and modelled figures are exact (the same work gives the same number on every
# machine that shares a profile), so their tolerance is tight.
DEFAULT_MAX_REGRESSION = {
    "emissions": "10%",
    "energy": "10%",
    "score": "0.01",
    "cegi": "10%",
    "cost": "1%",
    "modelled_energy": "1%",
    "modelled_emissions": "1%",
    "single_sample": DEFAULT_SINGLE_SAMPLE_TOLERANCE,
}


def single_sample_tolerance(saved: Mapping[str, Any]) -> Tolerance:
    """The single-sample tolerance a run's saved settings name (older runs: the default)."""
    text = (saved.get("max_regression") or {}).get("single_sample", DEFAULT_SINGLE_SAMPLE_TOLERANCE)
    return parse_tolerance(text)
