"""A deterministic, modelled meter (`--cegi-meter=flops`): FLOPs x a device profile.

Each window counts the FLOPs of the torch work inside it with
`torch.utils.flop_counter.FlopCounterMode` (plus formulas for bitsandbytes' int8
and 4-bit operators, see `flop_formulas`), split by dtype class, and turns them
into energy with a versioned *device profile*:

    energy_J = sum_c F_c * joules_per_flop_c                    (dynamic)
             + static_watts * sum_c F_c / flops_per_second_c    (static power over
                                                                 the estimated time)

for c in fp64, fp32, bf16, fp16, int8, int4, quant, summed in that fixed order.
The result is a pure function of the FLOP counts and the profile, so the same code
gives bit-identical energy on every run and every machine. `duration_s` is the
real wall time of the window, for information only; energy never depends on it.

What it does not see (see docs/meters.md): elementwise ops, memory traffic, Python
overhead, work outside torch, and work on other threads. A window that runs no
counted op gets 0 FLOPs, hence 0 energy, hence is *invalid* by the core's rules:
an honest "nothing measured", never a silent pass.

Profiles are JSON files (schema `pytest-cegi/flops-profile` version 1). The
built-in ones live in `pytest_cegi/measure/meters/profiles/`; pick one with
`CEGI_FLOPS_PROFILE=<name>` (a built-in) or `CEGI_FLOPS_PROFILE=<path.json>`.
`pytest-cegi calibrate` measures one for the current machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_cegi.core.carbon import carbon_factor
from pytest_cegi.core.window import Method, Window, WindowHandle
from pytest_cegi.measure.meters.base import synchronize_accelerators
from pytest_cegi.measure.meters.flop_formulas import CLASSES, counting

PROFILE_SCHEMA = "pytest-cegi/flops-profile"
PROFILE_SCHEMA_VERSION = 1
PROFILE_ENV = "CEGI_FLOPS_PROFILE"
DEFAULT_PROFILE = "generic-cpu"
PROFILES_DIR = Path(__file__).parent / "profiles"
_DEVICES = ("cpu", "gpu")


class ProfileError(ValueError):
    """A device profile that cannot be found or does not validate."""


@dataclass(frozen=True)
class ClassCost:
    joules_per_flop: float
    flops_per_second: float


@dataclass(frozen=True)
class Profile:
    name: str
    version: str
    device: str  # "cpu" or "gpu": which energy column the figures go to
    static_watts: float
    classes: dict  # class -> ClassCost, every class in CLASSES
    source: str  # where the numbers come from
    path: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def energy_joules(self, flops_by_class: dict) -> tuple[float, float, float]:
        """(total, dynamic, static) joules for FLOP counts by class; deterministic."""
        dynamic = sum(
            flops_by_class.get(c, 0) * self.classes[c].joules_per_flop for c in CLASSES if flops_by_class.get(c, 0)
        )
        static = self.static_watts * self.estimated_seconds(flops_by_class)
        return dynamic + static, dynamic, static

    def estimated_seconds(self, flops_by_class: dict) -> float:
        return sum(
            flops_by_class.get(c, 0) / self.classes[c].flops_per_second for c in CLASSES if flops_by_class.get(c, 0)
        )


def builtin_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.json"))


def _positive(where: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"{where}: key {key!r} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ProfileError(f"{where}: key {key!r} must be a positive finite number, got {value!r}")
    return value


def parse_profile(data, where: str) -> Profile:
    """Validate a profile dict; errors name `where` (the file) and the key."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile must be a JSON object, got {type(data).__name__}")
    if data.get("schema") != PROFILE_SCHEMA:
        raise ProfileError(f"{where}: key 'schema' must be {PROFILE_SCHEMA!r}, got {data.get('schema')!r}")
    if data.get("schema_version") != PROFILE_SCHEMA_VERSION:
        raise ProfileError(
            f"{where}: unsupported schema_version {data.get('schema_version')!r} "
            f"(this pytest-cegi reads version {PROFILE_SCHEMA_VERSION})"
        )
    for key in ("name", "version", "source"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ProfileError(f"{where}: key {key!r} must be a non-empty string, got {data.get(key)!r}")
    device = data.get("device", "cpu")
    if device not in _DEVICES:
        raise ProfileError(f"{where}: key 'device' must be one of {', '.join(_DEVICES)}, got {device!r}")
    static = data.get("static_watts")
    if isinstance(static, bool) or not isinstance(static, (int, float)) or not math.isfinite(static) or static < 0:
        raise ProfileError(f"{where}: key 'static_watts' must be a number >= 0, got {static!r}")
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
        classes[cls] = ClassCost(
            joules_per_flop=_positive(where, f"classes.{cls}.joules_per_flop", entry.get("joules_per_flop")),
            flops_per_second=_positive(where, f"classes.{cls}.flops_per_second", entry.get("flops_per_second")),
        )
    return Profile(
        name=data["name"],
        version=data["version"],
        device=device,
        static_watts=float(static),
        classes=classes,
        source=data["source"],
        path=where,
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
            raise ProfileError(
                f"flops profile file {text!r} not found (built-in profiles: {', '.join(builtin_profiles())})"
            )
    else:
        path = PROFILES_DIR / f"{text}.json"
        if not path.is_file():
            raise ProfileError(
                f"no built-in flops profile named {text!r} "
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


class FlopsMeter:
    name = "flops"

    def __init__(self, carbon, profile: str | os.PathLike | Profile | None = None):
        """`carbon` is the resolved `settings.Carbon`; `profile` a Profile, a built-in
        name or a path (default: `$CEGI_FLOPS_PROFILE`, else `generic-cpu`).
        Raises ProfileError for a profile that cannot be loaded."""
        self._carbon = carbon
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self._factor: tuple[float, str] | None = None
        self._method: Method | None = None

    def _carbon_factor(self) -> tuple[float, str]:
        if self._factor is None:
            self._factor = carbon_factor(self._carbon)
        return self._factor

    def method(self) -> Method:
        if self._method is None:
            label = f"modelled (flops, profile {self.profile.label})"
            factor, source = self._carbon_factor()
            self._method = Method(
                meter=self.name,
                cpu=label if self.profile.device == "cpu" else "none",
                gpu=label if self.profile.device == "gpu" else "none",
                carbon_factor_g_per_kwh=factor,
                carbon_factor_source=source,
                estimate=True,
                basis="flops",
            )
        return self._method

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[WindowHandle]:
        handle = WindowHandle(phase)
        error = counter = count = None
        try:
            import torch  # noqa: F401  (only now: sessions that never measure never import it)
        except ImportError as exc:
            error = (
                f"the flops meter needs torch, which is not importable ({exc}); "
                f"install it (pip install 'pytest-cegi[models]') or use --cegi-meter=codecarbon"
            )
        else:
            try:
                synchronize_accelerators()
                started_counter = counting()
                count = started_counter.__enter__()
                counter = started_counter  # entered: must be exited
            except Exception as exc:
                error = f"flops counter could not start: {type(exc).__name__}: {exc}"
        started = time.perf_counter()
        try:
            yield handle
        finally:
            if counter is not None:
                try:
                    counter.__exit__(None, None, None)
                except Exception as exc:
                    error = f"flops counter failed: {type(exc).__name__}: {exc}"
            synchronize_accelerators()
            elapsed = time.perf_counter() - started
            handle.result = self._to_window(phase, count if error is None else None, elapsed, error, handle)

    def _to_window(self, phase, count, elapsed, error, handle) -> Window:
        method = self.method()
        if count is None:
            return Window(phase=phase, energy_kwh=0.0, emissions_kg=0.0, duration_s=elapsed, method=method, error=error)
        flops = dict(count.by_class)
        joules, dynamic, static = self.profile.energy_joules(flops)
        energy_kwh = joules / 3.6e6
        handle.notes.update(
            flops=count.nonzero(),
            flops_total=count.total,
            flops_by_op=dict(count.by_op),
            profile=self.profile.label,
            estimated_s=self.profile.estimated_seconds(flops),
            dynamic_j=dynamic,
            static_j=static,
        )
        if count.unpriced:
            handle.notes["unpriced_dtypes"] = sorted(count.unpriced)
        if count.total == 0:
            handle.notes["why_zero"] = (
                "no counted torch op ran in this window (pure Python, or ops the "
                "flops meter has no formula for): energy 0, so the window is invalid"
            )
        return Window(
            phase=phase,
            energy_kwh=energy_kwh,
            emissions_kg=energy_kwh * method.carbon_factor_g_per_kwh / 1000.0,
            duration_s=elapsed,
            method=method,
            flops=int(count.total),
            cpu_energy_kwh=energy_kwh if self.profile.device == "cpu" else 0.0,
            gpu_energy_kwh=energy_kwh if self.profile.device == "gpu" else 0.0,
        )

    def cache_identity(self) -> str:
        """Windows this meter produces are comparable only with its own profile's."""
        return f"flops:{self.profile.label}"

    def close(self) -> None:
        pass
