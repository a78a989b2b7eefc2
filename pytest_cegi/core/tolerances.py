"""The tolerances of regression checks: the keys `max_regression` takes and their
defaults, derived from the table of quantities (core/quantities.py) plus the
single-sample tolerance. `Settings.max_regression` starts from these; a saved run's
file is checked against these keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_cegi.core.quantities import NAMES, QUANTITIES
from pytest_cegi.core.units import Tolerance, parse_tolerance

# The quantities a baseline comparison judges, in report order (core/quantities.py).
REGRESSION_QUANTITIES = NAMES
# A measured window with fewer than 3 repeats a side is gated against gross changes
# only: beyond 2x either way, wider than one sample's measured spread between sessions
# (docs/ci-gate.md, "One sample a side", with the gate_power.py command behind it).
# Not a quantity: the tolerance of measured figures with too few repeats.
SINGLE_SAMPLE = "single_sample"
DEFAULT_SINGLE_SAMPLE_TOLERANCE = "100%"
# The keys `max_regression` takes, and what each starts from.
DEFAULT_MAX_REGRESSION = {
    **{q.name: q.default_tolerance for q in QUANTITIES},
    SINGLE_SAMPLE: DEFAULT_SINGLE_SAMPLE_TOLERANCE,
}
REGRESSION_KEYS = tuple(DEFAULT_MAX_REGRESSION)


def single_sample_tolerance(saved: Mapping[str, Any]) -> Tolerance:
    """The single-sample tolerance a run's saved settings name (older runs: the default)."""
    text = (saved.get("max_regression") or {}).get(SINGLE_SAMPLE, DEFAULT_SINGLE_SAMPLE_TOLERANCE)
    return parse_tolerance(text)
