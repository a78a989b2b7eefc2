"""Settings, resolved once per session: command line > budget file > pyproject.toml
[tool.cegi] > defaults. Everything here is validated; bad input raises
`SettingsError` naming the file, the entry and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_cegi.core.budget_file import (
    LIFTABLE,
    LIFTED,
    LIMIT_PARSERS,
    BudgetEntry,
    Limit,
    SettingsError,
    budget_entries,
    parse_country,
    parse_intensity,
    parse_limit,
    read_table,
    table_layer,
)
from pytest_cegi.core.carbon import DEFAULT_CARBON_INTENSITY, Carbon
from pytest_cegi.core.options import CLI_OPTIONS, OPTIONS, find_pyproject
from pytest_cegi.core.tolerances import DEFAULT_MAX_REGRESSION
from pytest_cegi.core.units import QuantityError, Tolerance, parse_tolerance


@dataclass(frozen=True)
class Settings:
    enforce: bool = False
    baseline: Path | None = None
    save: Path | None = None
    report: Path | None = None
    junit: Path | None = None
    plot: Path | None = None
    meter: str = "codecarbon"
    flops_profile: str | None = None  # built-in name or JSON path; None: $CEGI_FLOPS_PROFILE or generic-cpu
    repeat: int = 1
    carbon: Carbon = Carbon(
        None, DEFAULT_CARBON_INTENSITY, f"default ({DEFAULT_CARBON_INTENSITY:g} g/kWh world average)"
    )
    invalid: str = "fail"  # what an invalid measurement does under --cegi-budget
    allow_energy_mismatch: bool = False
    kernel_path: str = "native"  # bitsandbytes' CPU 4-bit kernels: "native" or "portable"
    cache_dir: Path | None = None
    rootdir: Path | None = None  # pytest's rootdir: reports name files relative to it
    max_regression: dict[str, Tolerance] = field(default_factory=dict)
    max_regression_sources: dict[str, str] = field(default_factory=dict)  # key -> "default" or the file that set it
    deployment: dict[str, float] | None = None
    budgets: tuple[BudgetEntry, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "enforce": self.enforce,
            "meter": self.meter,
            "repeat": self.repeat,
            "country": self.carbon.country,
            "carbon_intensity": self.carbon.intensity_g_per_kwh,
            "carbon_source": self.carbon.source,
            "invalid": self.invalid,
            "kernel_path": self.kernel_path,
            "deployment": self.deployment,
            "max_regression": {k: t.text for k, t in self.max_regression.items()},
            "max_regression_sources": dict(self.max_regression_sources),
        }


def _cli_layer(cli: dict[str, Any]) -> dict[str, Any]:
    """Parse the given (not None) command-line values into setting values."""
    out: dict[str, Any] = {}
    for option in CLI_OPTIONS:
        value = cli.get(option.key)
        if value is None:
            continue
        key, kind, flag = option.key, option.kind, option.flag
        if kind == "budget":
            if value:
                out["enforce"] = True
        elif kind == "path":
            out[key] = Path(value)
        elif kind == "flag":
            if value:
                out[key] = True
        elif kind == "count":
            if value < 1:
                raise SettingsError(f"{flag} must be at least 1, got {value}")
            out[key] = value
        elif kind in ("country", "intensity"):
            parse = parse_country if kind == "country" else parse_intensity
            try:
                out[key] = (parse(value), flag)
            except QuantityError as exc:
                raise SettingsError(f"{flag}: {exc}") from None
        else:
            out[key] = value
    return out


def _carbon(merged: dict[str, Any]) -> Carbon:
    country = merged.get("country")
    intensity = merged.get("carbon_intensity")
    if intensity is not None:
        source = intensity[1] + f" ({intensity[0]:g} g/kWh)"
        return Carbon(country[0] if country else None, intensity[0], source)
    if country is not None:
        from pytest_cegi.core.carbon import known_country

        if known_country(country[0]) is False:
            # Resolved here, so every meter and report uses and names the same fallback.
            why = f"codecarbon has no grid data for country {country[0]} (from {country[1]})"
            return Carbon(
                None,
                DEFAULT_CARBON_INTENSITY,
                f"world average {DEFAULT_CARBON_INTENSITY:g} g/kWh: {why}",
                warning=f"{why}: the world-average factor {DEFAULT_CARBON_INTENSITY:g} g CO2e/kWh "
                "is used instead; check the code (ISO 3166 alpha-3, e.g. USA, DEU, FRA)",
            )
        return Carbon(country[0], None, f"{country[1]} {country[0]} (codecarbon's offline grid data)")
    return Settings.carbon


_PLAIN_KINDS = ("path", "flag", "choice", "count", "profile", "deployment")


def load(cli: dict[str, Any], rootpath: Path, inipath: Path | None) -> Settings:
    """Build Settings from parsed command-line values (None = not given)."""
    layers: list[dict[str, Any]] = []
    budgets: list[BudgetEntry] = []
    pyproject = find_pyproject(rootpath, inipath)
    if pyproject is not None:
        table = read_table(pyproject, pyproject.name, top_level_ok=False)
        layers.append(table_layer(table, pyproject.name, pyproject.parent))
        budgets += budget_entries(table, pyproject.name)
    if isinstance(cli.get("budget"), str):
        budget_file = Path(cli["budget"])
        if budget_file.suffix != ".toml":
            raise SettingsError(
                f"--cegi-budget takes an optional TOML budget file, and {cli['budget']!r} is not one. "
                "Put test paths before the flag (pytest benchmarks/ --cegi-budget) or write --cegi-budget=FILE.toml"
            )
        table = read_table(budget_file, str(budget_file), top_level_ok=True)
        layers.append(table_layer(table, budget_file.name, budget_file.parent.resolve()))
        budgets += budget_entries(table, budget_file.name)

    layers.append(_cli_layer(cli))

    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    # country and carbon_intensity are one choice, the carbon factor: set in different
    # layers, the later layer's wins (--cegi-country over pyproject's carbon_intensity),
    # as for every other option, instead of the intensity silently beating the flag.
    last = {key: i for i, layer in enumerate(layers) for key in layer}
    if "country" in merged and "carbon_intensity" in merged and last["country"] != last["carbon_intensity"]:
        merged.pop("country" if last["country"] < last["carbon_intensity"] else "carbon_intensity")
    tolerances = {k: parse_tolerance(v) for k, v in DEFAULT_MAX_REGRESSION.items()}
    sources = {k: "default" for k in tolerances}
    # Per quantity, so a layer setting only `score` keeps an earlier layer's `emissions`.
    for layer in layers:
        for k, (tol, src) in layer.get("max_regression", {}).items():
            tolerances[k], sources[k] = tol, src
    # Options that are Settings fields as parsed; the others are combined below.
    plain = {o.key: merged[o.key] for o in OPTIONS if o.key in merged and o.kind in _PLAIN_KINDS}
    return Settings(
        **plain,
        carbon=_carbon(merged),
        max_regression=tolerances,
        max_regression_sources=sources,
        budgets=tuple(budgets),
        rootdir=rootpath,
    )


__all__ = [
    "Settings",
    "SettingsError",
    "BudgetEntry",
    "Limit",
    "Carbon",
    "Tolerance",
    "load",
    "parse_limit",
    "LIMIT_PARSERS",
    "LIFTED",
    "LIFTABLE",
    "read_table",
    "find_pyproject",
]
