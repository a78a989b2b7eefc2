"""The one gate every saved run file passes before any code reads it.

    text = read_bounded(path)          # RunFileError: not a regular file, too large, not UTF-8
    run = parse_json(text)             # RunFileError: not JSON, too deep; NaN/huge ints marked
    check_run(run)                     # RunFileError naming the field, e.g. records[2].windows[0].energy_kwh

`run_file.load_run` chains these and turns a RunFileError into a BaselineError that
names the file, which pytest reports as a usage error (exit 4) and `pytest-cegi` as
exit 2. Why so strict: a NaN, a string or a 5,000-digit integer in a baseline
either crashes the comparison or, worse, makes every comparison with it pass.

Record keys this schema does not know are kept (a newer writer may add some) but
must still be plain JSON within the depth bound.
"""

from __future__ import annotations

import json
import math
import os
import stat
from typing import Any, TypeGuard

MAX_RUN_BYTES = 32 * 1024 * 1024  # a run of thousands of tests is a few MB
MAX_INT_DIGITS = 30  # FLOP counts reach ~1e20; nothing needs more
MAX_FREE_DEPTH = 16  # nesting allowed inside free-form tables (details, variant_meta)

CHECK_STATUSES = ("pass", "fail", "invalid")

# What the checks below take is JSON as read from a file, not yet checked: `object`
# where a value is only tested, `Any` where its shape is walked before `table` or
# `array` has confirmed it (the check is what makes it safe to read).


class RunFileError(ValueError):
    """A run file that may not be used; `field` is a path such as records[0].score."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}" if field else problem)


class _Rejected:
    """Stands in for a JSON token no field may hold (NaN, Infinity, a huge integer),
    so the schema check can say which field held it."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


# -- reading and parsing --------------------------------------------------------------


def read_bounded(path: str | os.PathLike[str]) -> str:
    """The file's text; refuses devices, pipes and folders, and anything over MAX_RUN_BYTES."""
    st = os.stat(path)  # FileNotFoundError / OSError: the caller says "cannot read"
    if not stat.S_ISREG(st.st_mode):
        raise RunFileError("", "not a regular file (a device, pipe or folder); give the path of a saved run")
    if st.st_size > MAX_RUN_BYTES:
        raise RunFileError("", f"{st.st_size} bytes is larger than the {MAX_RUN_BYTES} bytes a run file may have")
    with open(path, "rb") as fh:
        data = fh.read(MAX_RUN_BYTES + 1)  # the size may have changed since stat
    if len(data) > MAX_RUN_BYTES:
        raise RunFileError("", f"larger than the {MAX_RUN_BYTES} bytes a run file may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunFileError("", f"not UTF-8 text ({exc})") from None


def _int(text: str) -> int | _Rejected:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Rejected(f"an integer of {digits} digits")
    return int(text)


def _float(text: str) -> float | _Rejected:
    value = float(text)
    return value if math.isfinite(value) else _Rejected(f"{text} (overflows to infinity)")


def parse_json(text: str) -> Any:
    """json.loads that never yields NaN, Infinity or a huge int (they become _Rejected)."""
    try:
        return json.loads(text, parse_constant=_Rejected, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise RunFileError("", "arrays or objects nested too deeply") from None


# -- field checks ----------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, _Rejected):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def number(value: object, field: str, *, optional: bool = False, non_negative: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RunFileError(field, f"expected a finite number{' or null' if optional else ''}, got {_kind(value)}")
    if non_negative and value < 0:
        raise RunFileError(field, f"must not be negative, got {value!r}")


def integer(value: object, field: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RunFileError(field, f"expected a whole number >= 0{' or null' if optional else ''}, got {_kind(value)}")


def string(value: object, field: str, *, optional: bool = False, choices: tuple[str, ...] = ()) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise RunFileError(field, f"expected a string{' or null' if optional else ''}, got {_kind(value)}")
    if choices and value not in choices:
        raise RunFileError(field, f"expected one of {', '.join(choices)}, got {value!r}")


def boolean(value: object, field: str) -> None:
    if not isinstance(value, bool):
        raise RunFileError(field, f"expected true or false, got {_kind(value)}")


def table(value: object, field: str, *, optional: bool = False) -> TypeGuard[dict[str, Any]]:
    """True when value is an object to look into; False for an allowed null."""
    if value is None and optional:
        return False
    if not isinstance(value, dict):
        raise RunFileError(field, f"expected an object{' or null' if optional else ''}, got {_kind(value)}")
    return True


def array(value: object, field: str, *, optional: bool = False) -> TypeGuard[list[Any]]:
    if value is None and optional:
        return False
    if not isinstance(value, list):
        raise RunFileError(field, f"expected an array{' or null' if optional else ''}, got {_kind(value)}")
    return True


def plain(value: object, field: str, depth: int = 0) -> None:
    """Free-form JSON: any shape within MAX_FREE_DEPTH, with finite numbers only."""
    if depth > MAX_FREE_DEPTH:
        raise RunFileError(field, f"nested deeper than {MAX_FREE_DEPTH} levels")
    if isinstance(value, _Rejected) or (isinstance(value, float) and not math.isfinite(value)):
        raise RunFileError(field, f"{_kind(value)} is not allowed")
    if isinstance(value, dict):
        for k, v in value.items():
            plain(v, f"{field}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            plain(v, f"{field}[{i}]", depth + 1)


def _strings(value: object, field: str, *, optional: bool = False) -> None:
    if array(value, field, optional=optional):
        for i, v in enumerate(value):
            string(v, f"{field}[{i}]")


def _string_table(value: object, field: str, *, optional: bool = False) -> None:
    if table(value, field, optional=optional):
        for k, v in value.items():
            string(v, f"{field}.{k}")


# -- the run ---------------------------------------------------------------------------


def check_method(m: object, field: str, *, optional: bool = False) -> None:
    if not table(m, field, optional=optional):
        return
    for key in ("meter", "cpu", "gpu", "carbon_factor_source"):
        string(m.get(key), f"{field}.{key}")
    # a meter that could not resolve its factor saves null (JSON has no NaN)
    number(m.get("carbon_factor_g_per_kwh"), f"{field}.carbon_factor_g_per_kwh", optional=True, non_negative=True)
    boolean(m.get("estimate"), f"{field}.estimate")
    for key in ("basis", "ram"):
        string(m.get(key), f"{field}.{key}", optional=True)
    _no_other_keys(m, field, _fields("Method"))


_WINDOW_FIGURES = ("energy_kwh", "emissions_kg", "duration_s")
_WINDOW_PARTS = ("cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh")
_WINDOW_OPTIONAL = (
    "machine_energy_kwh",
    "machine_emissions_kg",
    "cpu_seconds",
    "modelled_energy_kwh",
    "modelled_emissions_kg",
)


def check_window(w: Any, field: str) -> None:
    table(w, field)
    string(w.get("phase"), f"{field}.phase")
    for key in _WINDOW_FIGURES:
        number(w.get(key), f"{field}.{key}", non_negative=True)
    for key in _WINDOW_PARTS:
        number(w.get(key, 0.0), f"{field}.{key}", non_negative=True)
    for key in _WINDOW_OPTIONAL:
        number(w.get(key), f"{field}.{key}", optional=True, non_negative=True)
    check_method(w.get("method"), f"{field}.method")
    string(w.get("error"), f"{field}.error", optional=True)
    boolean(w.get("cached", False), f"{field}.cached")
    if array(w.get("samples", []), f"{field}.samples", optional=True):
        for i, s in enumerate(w.get("samples") or []):
            number(s, f"{field}.samples[{i}]", non_negative=True)
    for key in ("requests", "flops", "tokens"):
        integer(w.get(key), f"{field}.{key}", optional=True)
    if table(w.get("details", {}), f"{field}.details", optional=True):
        plain(w.get("details"), f"{field}.details")
    check_work(w.get("work"), f"{field}.work")
    if table(w.get("fingerprint"), f"{field}.fingerprint", optional=True):
        plain(w.get("fingerprint"), f"{field}.fingerprint")
    string(w.get("modelled_by"), f"{field}.modelled_by", optional=True)
    _no_other_keys(w, field, _fields("Window"))


def check_work(work: Any, field: str) -> None:
    """Counted work is priced as it stands: every count a whole number >= 0."""
    if not table(work, field, optional=True):
        return
    for key in ("bytes", "dispatches", "forward_passes"):
        integer(work.get(key), f"{field}.{key}", optional=True)
    if table(work.get("flops"), f"{field}.flops", optional=True):
        for cls, n in work["flops"].items():
            integer(n, f"{field}.flops.{cls}")
    plain(work, field)


def check_check(c: Any, field: str) -> None:
    table(c, field)
    for key in ("limit", "source"):
        string(c.get(key), f"{field}.{key}")
    string(c.get("status"), f"{field}.status", choices=CHECK_STATUSES)
    string(c.get("message", ""), f"{field}.message")
    for key in ("threshold", "value"):
        number(c.get(key), f"{field}.{key}", optional=True)
    _no_other_keys(c, field, _fields("Check"))


_RECORD_NUMBERS = (
    "score",
    "reference_score",
    "gain_pct",
    "cegi",
    "carbon_per_gain",
    "energy_kwh",
    "emissions_kg",
    "duration_s",
    "machine_energy_kwh",
    "modelled_energy_kwh",
    "modelled_emissions_kg",
)
_RECORD_INTS = ("trainable_params", "total_params", "lora_rank", "requests", "flops", "tokens", "cost")
_RECORD_STRINGS = ("metric", "quantization", "cegi_reason", "cost_basis", "modelled_by", "modelled_basis")


def check_record(r: Any, field: str) -> None:
    table(r, field)
    for key in ("nodeid", "task", "variant"):
        string(r.get(key), f"{field}.{key}")
    field = f"{field} ({r['nodeid'][:80]})"
    for key in _RECORD_NUMBERS:
        number(r.get(key), f"{field}.{key}", optional=True)
    for key in _RECORD_INTS:
        integer(r.get(key), f"{field}.{key}", optional=True)
    for key in _RECORD_STRINGS:
        string(r.get(key), f"{field}.{key}", optional=True)
    for key in ("reference", "higher_is_better", "cached", "estimate"):
        if key in r:
            boolean(r[key], f"{field}.{key}")
    string(r.get("gain_mode", "relative"), f"{field}.gain_mode")
    from pytest_cegi.core.record import VERDICTS

    string(r.get("verdict", "pass"), f"{field}.verdict", choices=tuple(VERDICTS))
    string(r.get("outcome", "passed"), f"{field}.outcome")
    _strings(r.get("phases_counted"), f"{field}.phases_counted", optional=True)
    _strings(r.get("notes", []), f"{field}.notes")
    if array(r.get("windows", []), f"{field}.windows"):
        for i, w in enumerate(r.get("windows", [])):
            check_window(w, f"{field}.windows[{i}]")
    if array(r.get("checks", []), f"{field}.checks"):
        for i, c in enumerate(r.get("checks", [])):
            check_check(c, f"{field}.checks[{i}]")
    check_method(r.get("method"), f"{field}.method", optional=True)
    for key in ("device", "shard"):
        string(r.get(key), f"{field}.{key}", optional=True)
    check_machine(r.get("machine"), f"{field}.machine")
    if table(r.get("max_regression"), f"{field}.max_regression", optional=True):
        # null: that rule lifted by a budget entry's `false`
        _check_tolerances(r["max_regression"], f"{field}.max_regression", allow_null=True)
    if table(r.get("deployment"), f"{field}.deployment", optional=True):
        for k, v in r["deployment"].items():
            number(v, f"{field}.deployment.{k}", non_negative=True)
    for key, v in r.items():  # everything else (variant_meta, phases, newer keys): plain JSON
        plain(v, f"{field}.{key}")


def check_settings(s: object, field: str = "settings") -> None:
    if not table(s, field, optional=True):
        return
    for key in ("enforce", "allow_energy_mismatch"):
        if key in s:
            boolean(s[key], f"{field}.{key}")
    if "repeat" in s:
        integer(s["repeat"], f"{field}.repeat")
    for key in ("meter", "country", "carbon_source", "invalid", "kernel_path"):
        string(s.get(key), f"{field}.{key}", optional=True)
    number(s.get("carbon_intensity"), f"{field}.carbon_intensity", optional=True, non_negative=True)
    mr = s.get("max_regression")
    if table(mr, f"{field}.max_regression", optional=True):
        _check_tolerances(mr, f"{field}.max_regression")
    plain(s, field)


def _check_tolerances(mr: dict[str, Any], field: str, *, allow_null: bool = False) -> None:
    from pytest_cegi.core.tolerances import REGRESSION_KEYS as KEYS
    from pytest_cegi.core.units import QuantityError, parse_tolerance

    for k, v in mr.items():
        if k not in KEYS:
            raise RunFileError(f"{field}.{k}", f"unknown quantity; expected one of {', '.join(KEYS)}")
        if v is None and allow_null:
            continue
        string(v, f"{field}.{k}")
        try:
            parse_tolerance(v)
        except QuantityError as exc:
            raise RunFileError(f"{field}.{k}", str(exc)) from None


def check_machine(m: object, field: str = "machine") -> None:
    if not table(m, field, optional=True):
        return
    for key in ("hostname", "platform", "python", "cpu", "cpu_id"):
        string(m.get(key), f"{field}.{key}", optional=True)
    integer(m.get("cpu_count"), f"{field}.cpu_count", optional=True)
    _strings(m.get("gpus"), f"{field}.gpus", optional=True)
    plain(m, field)


def check_shard(s: object, field: str) -> None:
    """A declared shard: group i of N splits (1 <= i <= N)."""
    if not table(s, field, optional=True):
        return
    integer(s.get("group"), f"{field}.group")
    integer(s.get("splits"), f"{field}.splits")
    if not 1 <= s["group"] <= s["splits"]:
        raise RunFileError(f"{field}.group", f"group {s['group']} is not between 1 and splits ({s['splits']})")
    string(s.get("by"), f"{field}.by", optional=True)


def check_run(run: Any) -> None:
    """Every field the code reads, for type and finiteness; RunFileError on the first bad one."""
    table(run, "")
    for key in ("created", "pytest_cegi", "incomplete"):
        string(run.get(key), key, optional=True)
    check_machine(run.get("machine"))
    check_method(run.get("meter"), "meter", optional=True)
    _string_table(run.get("packages"), "packages", optional=True)
    check_settings(run.get("settings"))
    _strings(run.get("pooled_from"), "pooled_from", optional=True)
    _strings(run.get("warnings"), "warnings", optional=True)
    check_shard(run.get("shard"), "shard")
    if array(run.get("shards"), "shards", optional=True):
        for i, s in enumerate(run["shards"]):
            table(s, f"shards[{i}]")
            string(s.get("file"), f"shards[{i}].file")
            string(s.get("label"), f"shards[{i}].label")
            integer(s.get("records"), f"shards[{i}].records")
            check_shard({k: s.get(k) for k in ("group", "splits") if s.get(k) is not None} or None, f"shards[{i}]")
            check_machine(s.get("machine"), f"shards[{i}].machine")
            check_method(s.get("meter"), f"shards[{i}].meter", optional=True)
            for key in ("created", "incomplete"):
                string(s.get(key), f"shards[{i}].{key}", optional=True)
    if not array(run.get("records"), "records"):
        return
    for i, rec in enumerate(run["records"]):
        check_record(rec, f"records[{i}]")
    for key, v in run.items():
        plain(v, key)


def _fields(name: str) -> tuple[str, ...]:
    """Field names of the dataclass the dict is rebuilt into (so new fields need no edit here)."""
    import dataclasses

    from pytest_cegi.core.record import Check
    from pytest_cegi.core.window import Method, Window

    return tuple(f.name for f in dataclasses.fields({"Method": Method, "Window": Window, "Check": Check}[name]))


def _no_other_keys(d: dict[str, Any], field: str, known: tuple[str, ...]) -> None:
    """Dataclass-backed objects (Window, Check, Method) are rebuilt with **d: an
    unknown key would be a TypeError there, so it is refused here by name."""
    for key in d:
        if key not in known:
            raise RunFileError(f"{field}.{key}", f"unknown key; expected one of {', '.join(known)}")
