"""Parse quantities with units: masses of CO2e, energies, and tolerances.

Numbers are taken in base units (kg CO2e, kWh); strings carry their unit:
"150 mg", "2 g", "0.3 kg", "1 t", "5 Wh", "0.2 kWh", "300 J", "10%". Every unit a
report prints parses back ("12 µg", "3.1 kJ"); micro may be written µ (U+00B5),
μ (U+03BC) or u.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z%\u00b5\u03bc]*)\s*$")

# Unit spellings are case-sensitive where case changes the meaning (mJ vs MJ).
MASS_UNITS_KG = {"ng": 1e-12, "µg": 1e-9, "mg": 1e-6, "g": 1e-3, "kg": 1.0, "t": 1e3}
ENERGY_UNITS_KWH = {
    "mJ": 1 / 3.6e9,
    "J": 1 / 3.6e6,
    "kJ": 1 / 3.6e3,
    "MJ": 1 / 3.6,
    "mWh": 1e-6,
    "Wh": 1e-3,
    "kWh": 1.0,
    "MWh": 1e3,
}
_LOWERCASE_OK = {"j": "J", "kj": "kJ", "wh": "Wh", "kwh": "kWh"}
_MICRO = ("\u03bc", "u")  # Greek mu and the ASCII stand-in, read as the micro sign µ (U+00B5)
# The units the reports print masses in, largest first (terminal, Markdown, chart, plot).
DISPLAY_MASS_UNITS = (("t", 1e3), ("kg", 1.0), ("g", 1e-3), ("mg", 1e-6), ("µg", 1e-9), ("ng", 1e-12))


class QuantityError(ValueError):
    """A value that is not a valid quantity; the message says what was expected."""


def _split(value: object, what: str) -> tuple[float, str]:
    if isinstance(value, bool):
        raise QuantityError(f"expected {what}, got a boolean {value!r}")
    if isinstance(value, (int, float)):
        return float(value), ""
    if not isinstance(value, str):
        raise QuantityError(f"expected {what}, got {type(value).__name__} {value!r}")
    m = _QUANTITY.match(value)
    if not m:
        raise QuantityError(f"cannot parse {value!r} as {what}")
    return float(m.group(1)), m.group(2)


def _finite_non_negative(number: float, raw: object, what: str) -> float:
    if not math.isfinite(number):
        raise QuantityError(f"{what} must be finite, got {raw!r}")
    if number < 0:
        raise QuantityError(f"{what} must not be negative, got {raw!r}")
    return number


def _parse_unit(value: object, units: dict[str, float], base: str, what: str, label: str) -> float:
    number, unit = _split(value, what)
    if unit:
        if unit[:1] in _MICRO and len(unit) > 1:
            unit = "µ" + unit[1:]
        factor = units.get(unit, units.get(_LOWERCASE_OK.get(unit, "")))
        if factor is None:
            names = ", ".join(sorted(units, key=units.__getitem__))
            raise QuantityError(f"unknown {base} unit {unit!r} in {value!r}; use one of {names}")
        number *= factor
    return _finite_non_negative(number, value, label)


def parse_mass_kg(value: object) -> float:
    """kg CO2e from a number (kg) or a string such as "150 mg" or "2 g"."""
    return _parse_unit(
        value, MASS_UNITS_KG, "mass", "a mass of CO2e (number in kg, or e.g. '2 g', '150 mg')", "an emission limit"
    )


def parse_energy_kwh(value: object) -> float:
    """kWh from a number (kWh) or a string such as "5 Wh", "0.2 kWh", "300 J"."""
    return _parse_unit(
        value, ENERGY_UNITS_KWH, "energy", "an energy (number in kWh, or e.g. '5 Wh', '300 J')", "an energy limit"
    )


def parse_number(value: object, what: str = "a number") -> float:
    """A plain finite number (int/float, or a numeric string)."""
    number, unit = _split(value, what)
    if unit:
        raise QuantityError(f"expected {what}, got {value!r} with a unit")
    if not math.isfinite(number):
        raise QuantityError(f"expected a finite number for {what}, got {value!r}")
    return number


class Tolerance:
    """A regression tolerance: relative ("10%") or absolute (0.01)."""

    __slots__ = ("value", "relative", "text")

    def __init__(self, value: float, relative: bool, text: str):
        self.value, self.relative, self.text = value, relative, text

    def allowed_increase(self, base: float) -> float:
        return abs(base) * self.value if self.relative else self.value

    def as_ratio(self) -> str:
        """ "2x either way" for "100%": how the single-sample rule applies a relative tolerance."""
        return f"{1 + self.value:g}x either way" if self.relative else f"±{self.text}"

    def __repr__(self) -> str:
        return f"Tolerance({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tolerance) and (self.value, self.relative) == (other.value, other.relative)


def parse_tolerance(value: object) -> Tolerance:
    """ "10%" -> relative 0.10; 0.01 or "0.01" -> absolute 0.01."""
    what = "a tolerance (e.g. '10%' or 0.01)"
    number, unit = _split(value, what)
    if unit not in ("", "%"):
        raise QuantityError(f"cannot parse {value!r} as {what}")
    number = _finite_non_negative(number, value, "a tolerance")
    if unit == "%":
        return Tolerance(number / 100.0, True, f"{number:g}%")
    return Tolerance(number, False, f"{number:g}")


def format_mass(kg: float | None, *, largest: str = "kg") -> str:
    """A mass of CO2e in the largest unit it reaches, e.g. "150 mg"; tonnes only with largest="t"."""
    if kg is None or not math.isfinite(kg):
        return "-"
    if not kg:
        return "0 g"
    unit, factor = mass_unit(abs(kg), largest=largest)
    return f"{kg / factor:.3g} {unit}"


def mass_unit(kg: float, *, largest: str = "t") -> tuple[str, float]:
    """The unit (name, kg per unit) for masses up to `kg`: the largest of DISPLAY_MASS_UNITS,
    no larger than `largest`, that `kg` reaches (ng below that). The one place a mass unit
    is chosen: printed masses, chart axes, projections."""
    units = DISPLAY_MASS_UNITS[[u for u, _ in DISPLAY_MASS_UNITS].index(largest) :]
    return next(((u, f) for u, f in units if kg >= f), units[-1])


def display_mass_unit(top_kg: float) -> tuple[str, float]:
    """The unit (name, kg per unit) a chart of values up to `top_kg` is drawn in."""
    return mass_unit(top_kg)


def format_gain(value: float | None, mode: str = "relative") -> str:
    """A gain over the reference: "+3.2%" (relative) or "+3.2 pts" (gain="points")."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.3g} pts" if mode == "points" else f"{value:+.3g}%"


def format_energy(kwh: float | None) -> str:
    if kwh is None or not math.isfinite(kwh):
        return "-"
    joules = kwh * 3.6e6
    if abs(kwh) >= 1:
        return f"{kwh:.3g} kWh"
    if abs(joules) >= 3600:
        return f"{kwh * 1e3:.3g} Wh"
    if abs(joules) >= 1000:
        return f"{joules / 1e3:.3g} kJ"
    return f"{joules:.3g} J"


def format_count(n: int | None) -> str:
    """Parameter counts as 950, 11.8k, 0.164M."""
    if n is None:
        return "-"
    return f"{n / 1e6:.3g}M" if n >= 1e5 else f"{n / 1e3:.3g}k" if n >= 1e3 else str(n)
