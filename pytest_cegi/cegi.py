"""Gain and CEGI arithmetic (DESIGN.md section 2), and nothing else.

CEGI = E / (dP x T_M): kg CO2e per (% gain over the reference x million
trainable parameters). Lower is better. Every undefined case returns a reason
instead of a number, so callers can fail with a message rather than divide by 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

GAIN_MODES = ("relative", "points")


@dataclass(frozen=True)
class Outcome:
    """A number, or the reason there is none."""

    value: float | None
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None


def gain_pct(score: float, reference: float, *, mode: str = "relative",
             higher_is_better: bool = True) -> Outcome:
    """dP in percent: relative to |P_ref| (default) or in points of a 0..1 metric."""
    if mode not in GAIN_MODES:
        raise ValueError(f"gain must be one of {', '.join(GAIN_MODES)}, got {mode!r}")
    for label, v in (("score", score), ("reference score", reference)):
        if v is None or not math.isfinite(v):
            return Outcome(None, f"{label} is missing or not finite")
    diff = score - reference if higher_is_better else reference - score
    if mode == "points":
        return Outcome(100.0 * diff)
    if reference == 0:
        return Outcome(None, "reference score is 0, so a relative gain is undefined; use gain=\"points\"")
    return Outcome(100.0 * diff / abs(reference))


def cegi(emissions_kg: float, gain: Outcome, trainable_params: int | None) -> Outcome:
    """E / (dP x T_M) with T_M in millions."""
    if not gain.defined:
        return Outcome(None, gain.reason)
    if gain.value <= 0:
        return Outcome(None, f"no gain over reference ({gain.value:+.3g}%)")
    if trainable_params is None:
        return Outcome(None, "trainable parameter count unknown (set cegi.trainable_params)")
    if trainable_params <= 0:
        return Outcome(None, "no trainable parameters (T_M = 0)")
    return Outcome(emissions_kg / (gain.value * trainable_params / 1e6))


def carbon_per_gain(emissions_kg: float, gain: Outcome) -> Outcome:
    """E / dP in kg CO2e per % gain; needs no parameter count."""
    if not gain.defined:
        return Outcome(None, gain.reason)
    if gain.value <= 0:
        return Outcome(None, f"no gain over reference ({gain.value:+.3g}%)")
    return Outcome(emissions_kg / gain.value)
