"""The carbon factor (g CO2e per kWh) of a run, resolved offline, never from the network."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

# World average grid intensity codecarbon itself falls back to (g CO2e/kWh).
DEFAULT_CARBON_INTENSITY = 475.0
WORLD_AVERAGE_G_PER_KWH = DEFAULT_CARBON_INTENSITY


@dataclass(frozen=True)
class Carbon:
    country: str | None
    intensity_g_per_kwh: float | None
    source: str
    warning: str | None = None  # shown in the terminal summary and the report


@functools.cache
def _known_countries() -> frozenset[str] | None:
    """Country codes in codecarbon's bundled grid data, read from its data file
    without importing codecarbon (settings are resolved before any test runs)."""
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("codecarbon")
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "private_infra" / "global_energy_mix.json"
        return frozenset(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ImportError):
        return None


def known_country(code: str) -> bool | None:
    """Whether codecarbon has grid data for this ISO3 code; None when that cannot be told."""
    known = _known_countries()
    return None if known is None else code in known


def carbon_factor(carbon: Carbon) -> tuple[float, str]:
    """(g CO2e per kWh, source) for `settings.Carbon`, never from the network.

    A country is resolved from codecarbon's bundled global energy-mix data, the
    same table and arithmetic its OfflineEmissionsTracker uses for a country;
    a country it has no data for falls back to the world average, and says so.
    """
    if carbon.intensity_g_per_kwh is not None:
        return float(carbon.intensity_g_per_kwh), carbon.source
    country = carbon.country
    try:
        from codecarbon.core.emissions import Emissions
        from codecarbon.input import DataSource

        mix = DataSource().get_global_energy_mix_data()
        if country in mix:
            rate = Emissions._global_energy_mix_to_emissions_rate(mix[country])
            return rate.kgs_per_kWh * 1000.0, carbon.source
        world = DataSource().get_carbon_intensity_per_source_data().get("world_average", WORLD_AVERAGE_G_PER_KWH)
        return float(world), f"world average {world:g} g/kWh (codecarbon has no data for {country})"
    except Exception as exc:  # codecarbon missing or its data layout changed
        return WORLD_AVERAGE_G_PER_KWH, (
            f"world average {WORLD_AVERAGE_G_PER_KWH:g} g/kWh (country {country} "
            f"not resolvable: {type(exc).__name__}: {exc})"
        )
