"""Settings, resolved once per session: command line > budget file > pyproject.toml
[tool.cegi] > defaults. Everything here is validated; bad input raises
`SettingsError` naming the file, the entry and the key.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pytest_cegi.core.formula import GAIN_MODES
from pytest_cegi.core.options import CLI_OPTIONS, OPTIONS, OptionSpec, find_pyproject
from pytest_cegi.core.units import (
    QuantityError,
    Tolerance,
    parse_energy_kwh,
    parse_mass_kg,
    parse_number,
    parse_tolerance,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# World average grid intensity codecarbon itself falls back to (g CO2e/kWh).
DEFAULT_CARBON_INTENSITY = 475.0
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


class SettingsError(Exception):
    """Bad configuration; the plugin turns it into a pytest usage error."""


@dataclass(frozen=True)
class Carbon:
    country: str | None
    intensity_g_per_kwh: float | None
    source: str
    warning: str | None = None  # shown in the terminal summary and the report


@dataclass(frozen=True)
class Limit:
    # What parse_limit made of it, by limit name: a float (floor, ceiling, max_emissions,
    # max_energy, reference_score), a str (gain), a tuple[str, ...] (phases) or a dict
    # (max_regression, deployment). Typed Any so each check reads its own kind directly.
    value: Any
    source: str


class _Lifted:
    """A budget entry's `false`: "no such limit here" (lifts the marker's limit)."""

    def __repr__(self) -> str:
        return "false"


LIFTED = _Lifted()
# Budget-entry keys that may be `false`. gain and phases are choices, not limits.
LIFTABLE = ("floor", "ceiling", "max_emissions", "max_energy", "reference_score", "max_regression", "deployment")


@dataclass(frozen=True)
class BudgetEntry:
    source: str  # "pyproject.toml budget #2"
    match: str | None = None  # glob over node ids
    task: str | None = None  # or a task name
    limits: dict[str, object] = field(default_factory=dict)  # key -> parsed value, or LIFTED

    def applies_to(self, nodeid: str, task: str) -> bool:
        if self.task is not None and self.task != task:
            return False
        return self.match is None or node_glob(self.match).fullmatch(nodeid) is not None


@functools.cache
def node_glob(pattern: str) -> re.Pattern[str]:
    """A glob over node ids: `*` any characters, `?` one; everything else literal.

    Unlike fnmatch, `[` and `]` are literal, because node ids use them for
    parameters: "test_sql.py::test_sql[*]" matches every parametrization."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


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


# -- validation helpers ---------------------------------------------------------------


def _where(source: str, key: str) -> str:
    return f"{source}: key {key!r}"


_T = TypeVar("_T")


def _check(source: str, key: str, fn: Callable[[object], _T], value: object) -> _T:
    try:
        return fn(value)
    except QuantityError as exc:
        raise SettingsError(f"{_where(source, key)}: {exc}") from None


def _number(what: str) -> Callable[[object], float]:
    return lambda v: parse_number(v, what)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise QuantityError(f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise QuantityError(f"expected true or false, got {value!r}")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise QuantityError(f"expected one of {', '.join(options)}, got {value!r}")
        return value

    return parse


# Phases the library itself measures. Tests may name their own (cegi.measure(phase=...)),
# so other names are allowed, except near-misses of these, which are typos.
BUILTIN_PHASES = ("inference", "finetune")


def _phases(value: object) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value
    if not (isinstance(names, (list, tuple)) and names and all(isinstance(v, str) and v for v in names)):
        raise QuantityError(f"expected a phase name or a list of phase names, got {value!r}")
    import difflib

    for name in names:
        close = difflib.get_close_matches(name.lower(), BUILTIN_PHASES, n=1, cutoff=0.7)
        if close and name != close[0]:
            raise QuantityError(
                f"unknown phase {name!r}; did you mean {close[0]!r}? "
                f"(phases pytest-cegi measures: {', '.join(BUILTIN_PHASES)}; a custom phase "
                f"is one the test opens with cegi.measure(phase=...))"
            )
    return tuple(names)


def _non_negative(what: str) -> Callable[[object], float]:
    def parse(value: object) -> float:
        number = parse_number(value, what)
        if number < 0:
            raise QuantityError(f"{what} must not be negative, got {value!r}")
        return number

    return parse


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QuantityError(f"expected a whole number >= 1, got {value!r}")
    return value


def _tolerances(source: str, key: str, value: object, *, allow_false: bool = False) -> dict[str, Tolerance | None]:
    """{quantity: Tolerance}; with allow_false (budget entries) `false` -> None: rule lifted."""
    if not isinstance(value, dict):
        raise SettingsError(
            f"{_where(source, key)}: expected a table such as "
            '{ emissions = "10%", score = "0.01" }, got ' + repr(value)
        )
    out: dict[str, Tolerance | None] = {}
    for k, v in value.items():
        if k not in REGRESSION_KEYS:
            raise SettingsError(
                f"{_where(source, f'{key}.{k}')}: unknown key; expected one of {', '.join(REGRESSION_KEYS)}"
            )
        if k == "single_sample" and v is False:
            raise SettingsError(
                f"{_where(source, f'{key}.{k}')}: the single-sample rule cannot be lifted (a window measured "
                f'once is still gated against gross changes); widen it, e.g. "300%", or lift energy, '
                f"emissions and cegi themselves"
            )
        out[k] = None if (allow_false and v is False) else _check(source, f"{key}.{k}", parse_tolerance, v)
    return out


def _deployment(source: str, key: str, value: object) -> dict[str, float]:
    """A deployment declaration. TOML may write its numbers as strings ("24e6"); every
    rule (known keys, exactly one rate, positive values) is the projection's, checked
    here so a bad declaration is a start-up error rather than a crash at report time."""
    from pytest_cegi.core.projection import DEPLOYMENT_KEYS, DeploymentError, parse_deployment

    if isinstance(value, dict):
        value = {
            k: _check(source, f"{key}.{k}", _number(k), v) if k in DEPLOYMENT_KEYS and isinstance(v, str) else v
            for k, v in value.items()
        }
    try:
        parse_deployment(value, _where(source, key))
    except DeploymentError as exc:
        raise SettingsError(str(exc)) from None
    assert isinstance(value, dict)
    return {k: float(v) for k, v in value.items()}


# Limits a marker or budget entry may set, and how to parse each.
LIMIT_PARSERS: dict[str, Callable[[object], object]] = {
    "floor": _number("a score floor (number)"),
    "ceiling": _non_negative("a CEGI ceiling (number)"),  # CEGI of a real gain is > 0
    "max_emissions": parse_mass_kg,
    "max_energy": parse_energy_kwh,
    "reference_score": _number("a reference score (number)"),
    "gain": _choice(GAIN_MODES),
    "phases": _phases,
}


def parse_limit(source: str, key: str, value: object) -> object:
    if key == "max_regression":
        return _tolerances(source, key, value)
    if key == "deployment":
        return _deployment(source, key, value)
    return _check(source, key, LIMIT_PARSERS[key], value)


ENTRY_KEYS = ("match", "task", *LIMIT_PARSERS, "max_regression", "deployment")


def _entry_limit(source: str, key: str, value: object) -> object:
    """A budget entry's value: `false` lifts the limit (LIFTED); otherwise as a marker's."""
    if value is False and key in LIFTABLE:
        return LIFTED
    if key == "max_regression":
        return _tolerances(source, key, value, allow_false=True)
    return parse_limit(source, key, value)


def _parse_entry(source: str, raw: object) -> BudgetEntry:
    if not isinstance(raw, dict):
        raise SettingsError(f"{source}: expected a table of limits, got {raw!r}")
    for key in raw:
        if key not in ENTRY_KEYS:
            raise SettingsError(f"{_where(source, key)}: unknown key; expected one of {', '.join(ENTRY_KEYS)}")
    match = _check(source, "match", _string, raw["match"]) if "match" in raw else None
    task = _check(source, "task", _string, raw["task"]) if "task" in raw else None
    if match is None and task is None:
        raise SettingsError(f"{source}: needs 'match' (a glob over node ids) or 'task'")
    limits = {k: _entry_limit(source, k, v) for k, v in raw.items() if k not in ("match", "task")}
    if not limits:
        raise SettingsError(f"{source}: sets no limit")
    return BudgetEntry(source=source, match=match, task=task, limits=limits)


# Keys of [tool.cegi] (or of a budget file).
TABLE_KEYS = tuple(o.key for o in OPTIONS if o.table)


def read_table(path: Path, label: str, *, top_level_ok: bool) -> dict[str, Any]:
    """The [tool.cegi] table of a TOML file; a budget file may also put its keys at top level."""
    from pytest_cegi.core.run_schema import RunFileError, read_bounded

    try:  # bounded like a run file: a regular file of at most 32 MiB
        data = tomllib.loads(read_bounded(path))
    except FileNotFoundError:
        raise SettingsError(f"{label}: file not found") from None
    except RunFileError as exc:
        raise SettingsError(f"{label}: cannot read: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{label}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{label}: malformed TOML: {exc}") from None
    except RecursionError:
        raise SettingsError(f"{label}: malformed TOML: arrays or tables nested too deeply") from None
    tool = data.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise SettingsError(f"{label}: 'tool' must be a table ([tool.cegi]), got {tool!r}")
    table: dict[str, Any] | None = tool.get("cegi") if tool is not None else None
    if table is not None and not isinstance(table, dict):
        raise SettingsError(f"{label}: [tool.cegi] must be a table")
    # A budget file may hold its keys at top level or in [tool.cegi], not both: one
    # would be ignored, and an ignored [[budget]] silently switches the gate off.
    top = sorted(k for k in data if k != "tool") if top_level_ok else []
    if table is not None and top:
        raise SettingsError(
            f"{label}: has both a [tool.cegi] table and top-level keys ({', '.join(top)}); "
            "put them in one place: either all under [tool.cegi] or all at top level"
        )
    if table is None:
        table = {k: data[k] for k in top}
    for key in table:
        if key not in TABLE_KEYS:
            raise SettingsError(
                f"{label}: [tool.cegi] key {key!r}: unknown key; expected one of {', '.join(TABLE_KEYS)}"
            )
    return table


def _entries(table: dict[str, Any], label: str) -> list[BudgetEntry]:
    raw = table.get("budget", [])
    if not isinstance(raw, list):
        raise SettingsError(f"{label}: 'budget' must be an array of tables ([[tool.cegi.budget]])")
    return [_parse_entry(f"{label} budget #{i}", entry) for i, entry in enumerate(raw, 1)]


def _layer(table: dict[str, Any], label: str, base: Path) -> dict[str, Any]:
    """Parse the keys of one [tool.cegi] table into setting values."""
    src = f"{label} [tool.cegi]"
    return {
        o.key: _table_value(o, table[o.key], src, label, base) for o in OPTIONS if o.key in table and o.kind != "budget"
    }


def _table_value(option: OptionSpec, value: object, src: str, label: str, base: Path) -> object:
    key, kind = option.key, option.kind
    if kind == "path":
        return base / _check(src, key, _string, value)
    if kind == "flag":
        return _check(src, key, _bool, value)
    if kind == "choice":
        return _check(src, key, _choice(option.choices), value)
    if kind == "count":
        return _check(src, key, _positive_int, value)
    if kind == "country":
        return (_check(src, key, _country, value), f"{label} {key}")
    if kind == "intensity":
        return (_check(src, key, _intensity, value), f"{label} {key}")
    if kind == "profile":
        name = _check(src, key, _string, value)
        # a path is relative to the file that names it; a bare name is a built-in profile
        return str(base / name) if name.endswith(".json") else name
    if kind == "tolerances":
        return {k: (t, f"{src} {key}") for k, t in _tolerances(src, key, value).items()}
    if kind == "deployment":
        return _deployment(src, key, value)
    raise AssertionError(f"option {key!r}: unknown kind {kind!r}")  # pragma: no cover


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
            parse = _country if kind == "country" else _intensity
            try:
                out[key] = (parse(value), flag)
            except QuantityError as exc:
                raise SettingsError(f"{flag}: {exc}") from None
        else:
            out[key] = value
    return out


def _country(value: object) -> str:
    value = _string(value)
    if not re.fullmatch(r"[A-Za-z]{3}", value):  # ASCII only: 'ÄÖÜ' is not a code
        raise QuantityError(f"expected a 3-letter ISO 3166 country code such as 'USA', got {value!r}")
    return value.upper()


def _intensity(value: object) -> float:
    number = parse_number(value, "a carbon intensity in g CO2e per kWh")
    if number <= 0:
        raise QuantityError(f"carbon intensity must be positive, got {value!r}")
    return number


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
        layers.append(_layer(table, pyproject.name, pyproject.parent))
        budgets += _entries(table, pyproject.name)
    if isinstance(cli.get("budget"), str):
        budget_file = Path(cli["budget"])
        if budget_file.suffix != ".toml":
            raise SettingsError(
                f"--cegi-budget takes an optional TOML budget file, and {cli['budget']!r} is not one. "
                "Put test paths before the flag (pytest benchmarks/ --cegi-budget) or write --cegi-budget=FILE.toml"
            )
        table = read_table(budget_file, str(budget_file), top_level_ok=True)
        layers.append(_layer(table, budget_file.name, budget_file.parent.resolve()))
        budgets += _entries(table, budget_file.name)

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
]
