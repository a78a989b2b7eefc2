"""Gain and CEGI arithmetic, and nothing else.

CEGI = E / (dP x T_M): kg CO2e per (% gain over the reference x million
parameters trained to make the variant). Lower is better. Every case without a
number returns a reason instead, so callers can fail with a message rather than
divide by 0. Two kinds: *not applicable* (T_M = 0, nothing was trained: CEGI prices
a fine-tuning investment, and a ceiling does not apply) and *undefined* (a trained
variant with no gain or no reference score: under a ceiling that is a failure).
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
    applicable: bool = True  # False: nothing was trained (T_M = 0), so no CEGI is owed

    @property
    def defined(self) -> bool:
        return self.value is not None


NOTHING_TRAINED = "n/a (nothing trained)"


def gain_pct(score: float, reference: float, *, mode: str = "relative", higher_is_better: bool = True) -> Outcome:
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
        return Outcome(None, 'reference score is 0, so a relative gain is undefined; use gain="points"')
    return Outcome(100.0 * diff / abs(reference))


def cegi(emissions_kg: float, gain: Outcome, trainable_params: int | None, *, gain_mode: str = "relative") -> Outcome:
    """E / (dP x T_M) with T_M in millions; not applicable when T_M == 0."""
    if trainable_params is not None and trainable_params <= 0:
        # Checked first: a model used as is owes no CEGI whatever its gain.
        return Outcome(None, NOTHING_TRAINED, applicable=False)
    if gain.value is None:
        return Outcome(None, gain.reason)
    if gain.value <= 0:
        return Outcome(None, f"no gain over reference ({_gain_text(gain.value, gain_mode)})")
    if trainable_params is None:
        return Outcome(None, "trainable parameter count unknown (set cegi.trainable_params)")
    return Outcome(emissions_kg / (gain.value * trainable_params / 1e6))


def _gain_text(value: float, mode: str) -> str:
    return f"{value:+.3g} pts" if mode == "points" else f"{value:+.3g}%"


def carbon_per_gain(emissions_kg: float, gain: Outcome, *, gain_mode: str = "relative") -> Outcome:
    """E / dP in kg CO2e per % gain (per point with gain="points"); needs no parameter count."""
    if gain.value is None:
        return Outcome(None, gain.reason)
    if gain.value <= 0:
        return Outcome(None, f"no gain over reference ({_gain_text(gain.value, gain_mode)})")
    return Outcome(emissions_kg / gain.value)
