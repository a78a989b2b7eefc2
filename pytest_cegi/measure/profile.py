"""Device profiles: the prices that turn counted work into modelled energy.

A profile prices each unit of counted work (`pytest_cegi.measure.work`):

    energy_J = sum_c F_c * joules_per_flop_c + B * joules_per_byte + D * joules_per_dispatch
             + static_watts * T                                            (dynamic + static)
    T        = sum_c F_c / flops_per_second_c + B / bytes_per_second + D / dispatches_per_second

for FLOP classes c in fp64, fp32, bf16, fp16, int8, int4, quant, bytes moved B and op
dispatches D, summed in that fixed order: the result is a pure function of (the counts,
the profile), identical on every run and every machine. The time is additive, not a
per-op roofline max(FLOPs/peak, bytes/bandwidth): additive terms keep the model linear,
so `pytest-cegi calibrate` can fit it by least squares, and on the small models CI runs
the two agree within the fit's residuals (docs/meters.md).

Profiles are JSON (schema `pytest-cegi/flops-profile`). Version 2 adds `bytes` and
`dispatch` prices; a version 1 file (FLOPs only) still loads, prices bytes and
dispatches at zero, and says so in its label. Built-in profiles live in
`profiles/`; pick one with `profile = "<name or path.json>"` in `[tool.cegi]` or
`CEGI_FLOPS_PROFILE`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cegi.measure.meters.flop_formulas import CLASSES

PROFILE_SCHEMA = "pytest-cegi/flops-profile"
PROFILE_SCHEMA_VERSION = 2  # what calibrate writes
READABLE_VERSIONS = (1, 2)
PROFILE_ENV = "CEGI_FLOPS_PROFILE"
DEFAULT_PROFILE = "generic-cpu"
PROFILES_DIR = Path(__file__).parent / "meters" / "profiles"
_DEVICES = ("cpu", "gpu")
# Work units other than FLOP classes: (profile key, joules key, rate key, work key).
UNITS = (
    ("bytes", "joules_per_byte", "bytes_per_second", "bytes"),
    ("dispatch", "joules_per_dispatch", "dispatches_per_second", "dispatches"),
)


class ProfileError(ValueError):
    """A device profile that cannot be found or does not validate."""


@dataclass(frozen=True)
class Price:
    joules: float  # dynamic energy per unit
    per_second: float  # units processed per second (for the modelled time)


@dataclass(frozen=True)
class Priced:
    """Modelled energy of some counted work, and where it came from."""

    joules: float
    dynamic_j: float
    static_j: float
    seconds: float
    parts_j: dict[str, float]  # dynamic + static joules by unit ("fp32", "bytes", "dispatch", ...)

    @property
    def energy_kwh(self) -> float:
        return self.joules / 3.6e6


@dataclass(frozen=True)
class Profile:
    name: str
    version: str
    device: str  # "cpu" or "gpu": which energy column the figures go to
    static_watts: float
    classes: dict[str, Price]  # every class in CLASSES
    units: dict[str, Price]  # "bytes", "dispatch" (empty for a version 1 profile)
    source: str  # where the numbers come from
    path: str
    schema_version: int = PROFILE_SCHEMA_VERSION

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def flops_only(self) -> bool:
        return not self.units

    def describe(self) -> str:
        """How a figure from this profile was obtained, for records and reports."""
        what = "counted FLOPs" if self.flops_only else "counted work (FLOPs, bytes, dispatches)"
        return f"modelled from {what}, profile {self.label}"

    def price(self, work: Mapping[str, Any]) -> Priced:
        """Modelled energy of `work` (a `WorkCount.to_dict()`); deterministic."""
        flops = work.get("flops") or {}
        parts: dict[str, float] = {}
        seconds = 0.0
        dynamic = 0.0
        for cls in CLASSES:
            n = flops.get(cls, 0)
            if n:
                price = self.classes[cls]
                t = n / price.per_second
                parts[cls] = n * price.joules + self.static_watts * t
                dynamic += n * price.joules
                seconds += t
        for key, _, _, work_key in UNITS:
            n = work.get(work_key, 0) or 0
            if n and key in self.units:
                price = self.units[key]
                t = n / price.per_second
                parts[key] = n * price.joules + self.static_watts * t
                dynamic += n * price.joules
                seconds += t
        static = self.static_watts * seconds
        return Priced(dynamic + static, dynamic, static, seconds, parts)


def builtin_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.json"))


def _positive(where: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"{where}: key {key!r} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ProfileError(f"{where}: key {key!r} must be a positive finite number, got {value!r}")
    return value


def _non_negative(where: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ProfileError(f"{where}: key {key!r} must be a number >= 0, got {value!r}")
    return float(value)


def parse_profile(data, where: str) -> Profile:
    """Validate a profile dict; errors name `where` (the file) and the key."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile must be a JSON object, got {type(data).__name__}")
    if data.get("schema") != PROFILE_SCHEMA:
        raise ProfileError(f"{where}: key 'schema' must be {PROFILE_SCHEMA!r}, got {data.get('schema')!r}")
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ProfileError(
            f"{where}: unsupported schema_version {version!r} "
            f"(this pytest-cegi reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    for key in ("name", "version", "source"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ProfileError(f"{where}: key {key!r} must be a non-empty string, got {data.get(key)!r}")
    device = data.get("device", "cpu")
    if device not in _DEVICES:
        raise ProfileError(f"{where}: key 'device' must be one of {', '.join(_DEVICES)}, got {device!r}")
    static = _non_negative(where, "static_watts", data.get("static_watts"))
    table = data.get("classes")
    if not isinstance(table, dict):
        raise ProfileError(
            f"{where}: key 'classes' must be an object with one entry per dtype class ({', '.join(CLASSES)})"
        )
    missing = [c for c in CLASSES if c not in table]
    if missing:
        raise ProfileError(
            f"{where}: 'classes' lacks {', '.join(missing)} (a profile prices every class: {', '.join(CLASSES)})"
        )
    unknown = sorted(set(table) - set(CLASSES))
    if unknown:
        raise ProfileError(
            f"{where}: 'classes' has unknown class {', '.join(map(repr, unknown))} (known: {', '.join(CLASSES)})"
        )
    classes = {}
    for cls in CLASSES:
        entry = table[cls]
        if not isinstance(entry, dict):
            raise ProfileError(f"{where}: classes.{cls} must be an object with joules_per_flop and flops_per_second")
        classes[cls] = Price(
            joules=_non_negative(where, f"classes.{cls}.joules_per_flop", entry.get("joules_per_flop")),
            per_second=_positive(where, f"classes.{cls}.flops_per_second", entry.get("flops_per_second")),
        )
    units = {}
    if version >= 2:
        for key, joules_key, rate_key, _ in UNITS:
            entry = data.get(key)
            if not isinstance(entry, dict):
                raise ProfileError(f"{where}: key {key!r} must be an object with {joules_key} and {rate_key}")
            units[key] = Price(
                joules=_non_negative(where, f"{key}.{joules_key}", entry.get(joules_key)),
                per_second=_positive(where, f"{key}.{rate_key}", entry.get(rate_key)),
            )
    return Profile(
        name=data["name"],
        version=data["version"],
        device=device,
        static_watts=static,
        classes=classes,
        units=units,
        source=data["source"],
        path=where,
        schema_version=version,
    )


def load_profile(spec: str | os.PathLike | None = None) -> Profile:
    """A profile by built-in name or by path. `None`: `$CEGI_FLOPS_PROFILE`, else
    the default (`generic-cpu`)."""
    if spec is None:
        spec = os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    text = os.fspath(spec)
    looks_like_path = text.endswith(".json") or os.sep in text or "/" in text
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ProfileError(f"profile file {text!r} not found (built-in profiles: {', '.join(builtin_profiles())})")
    else:
        path = PROFILES_DIR / f"{text}.json"
        if not path.is_file():
            raise ProfileError(
                f"no built-in profile named {text!r} "
                f"(built-in: {', '.join(builtin_profiles())}; or give a path to a .json file)"
            )
    from pytest_cegi.core import run_schema

    try:  # read as strictly as a run file: bounded, no NaN, no huge integers
        data = run_schema.parse_json(run_schema.read_bounded(path))
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: not valid JSON: {exc}") from None
    except run_schema.RunFileError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    return parse_profile(data, str(path))
