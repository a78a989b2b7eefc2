"""Reading the budget file and [tool.cegi]: the TOML table, its keys, budget entries
and the limits they set, each value validated; bad input raises `SettingsError` naming
the file, the entry and the key. `core/settings.py` layers what this reads."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pytest_cegi.core.formula import GAIN_MODES
from pytest_cegi.core.options import OPTIONS, OptionSpec
from pytest_cegi.core.tolerances import REGRESSION_KEYS
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


class SettingsError(Exception):
    """Bad configuration; the plugin turns it into a pytest usage error."""


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


def budget_entries(table: dict[str, Any], label: str) -> list[BudgetEntry]:
    raw = table.get("budget", [])
    if not isinstance(raw, list):
        raise SettingsError(f"{label}: 'budget' must be an array of tables ([[tool.cegi.budget]])")
    return [_parse_entry(f"{label} budget #{i}", entry) for i, entry in enumerate(raw, 1)]


def table_layer(table: dict[str, Any], label: str, base: Path) -> dict[str, Any]:
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
        return (_check(src, key, parse_country, value), f"{label} {key}")
    if kind == "intensity":
        return (_check(src, key, parse_intensity, value), f"{label} {key}")
    if kind == "profile":
        name = _check(src, key, _string, value)
        # a path is relative to the file that names it; a bare name is a built-in profile
        return str(base / name) if name.endswith(".json") else name
    if kind == "tolerances":
        return {k: (t, f"{src} {key}") for k, t in _tolerances(src, key, value).items()}
    if kind == "deployment":
        return _deployment(src, key, value)
    raise AssertionError(f"option {key!r}: unknown kind {kind!r}")  # pragma: no cover


def parse_country(value: object) -> str:
    value = _string(value)
    if not re.fullmatch(r"[A-Za-z]{3}", value):  # ASCII only: 'ÄÖÜ' is not a code
        raise QuantityError(f"expected a 3-letter ISO 3166 country code such as 'USA', got {value!r}")
    return value.upper()


def parse_intensity(value: object) -> float:
    number = parse_number(value, "a carbon intensity in g CO2e per kWh")
    if number <= 0:
        raise QuantityError(f"carbon intensity must be positive, got {value!r}")
    return number
