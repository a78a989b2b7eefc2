"""`pytest-cegi calibrate`: measure a flops-meter device profile for this machine.

For each dtype class the flops meter prices (fp64, fp32, bf16, fp16, int8, int4,
quant) it runs a matmul-type workload repeatedly inside a codecarbon meter window
(the same meter `--cegi-meter=codecarbon` uses) and counts the same workload's
FLOPs with the flops meter's counter. With an idle window first for the static
power P (W):

    per call:  E = P * t + sum_c F_c * j_c        (codecarbon energy, wall time t)
    so         j_c = (E - P*t - known other classes) / F_c     joules per FLOP
               r_c = F_c / (t - time of known other classes)   FLOP/s

(The int8 and int4 workloads also run bitsandbytes' quantize ops, priced from the
`quant` class measured before them.) Each class is measured `--repeats` times; the
median is kept. The profile is written atomically as JSON with the raw
measurements, the machine and codecarbon's measurement method, so a reader can
tell a RAPL-metered profile from one built on codecarbon's TDP x load model.
Classes that cannot run here (no bitsandbytes) are copied from the base profile
and listed under `calibration.not_measured`.

    pytest-cegi calibrate [-o profile.json] [--name NAME] [--seconds 2] [--repeats 3]
    CEGI_FLOPS_PROFILE=profile.json pytest --cegi-meter=flops ...
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pytest_cegi.measure.meters.flop_formulas import CLASSES

# Order matters: `quant` before the classes whose workloads include quant ops.
_ORDER = ("quant", "fp32", "fp64", "bf16", "fp16", "int8", "int4")
_FLOOR = 1e-3  # a fitted j_c never goes below this fraction of E/F (noise can push it <= 0)


def _workloads(size: int, rows: int):
    """class -> zero-argument callable doing one call of that class's work."""
    import torch

    torch.manual_seed(0)
    out = {}
    for cls, dtype in (
        ("fp32", torch.float32),
        ("fp64", torch.float64),
        ("bf16", torch.bfloat16),
        ("fp16", torch.float16),
    ):
        a = torch.randn(rows, size, dtype=dtype)
        b = torch.randn(size, size, dtype=dtype)
        out[cls] = lambda a=a, b=b: torch.mm(a, b)
    try:
        import bitsandbytes as bnb
    except Exception:
        return out, "bitsandbytes is not importable"

    with torch.no_grad():
        base = torch.nn.Linear(size, size)
        x = torch.randn(rows, size)
        l8 = bnb.nn.Linear8bitLt(size, size, has_fp16_weights=False, threshold=0.0)
        l8.load_state_dict(base.state_dict())
        l8 = l8.to("cpu").eval()
        l4 = bnb.nn.Linear4bit(size, size, compute_dtype=torch.float32, quant_type="nf4")
        l4.load_state_dict(base.state_dict())
        l4 = l4.to("cpu").eval()
        big = torch.randn(rows * 8, size, dtype=torch.float16)

    def no_grad(fn):
        def run():
            with torch.no_grad():
                return fn()

        return run

    out["int8"] = no_grad(lambda: l8(x))
    out["int4"] = no_grad(lambda: l4(x))
    out["quant"] = no_grad(lambda: torch.ops.bitsandbytes.int8_vectorwise_quant(big))
    return out, None


def _measure(meter, fn, seconds: float):
    """(calls, joules, wall seconds, error) for running fn for about `seconds`."""
    fn()
    start = time.perf_counter()
    pilot = 0
    while time.perf_counter() - start < 0.2 or pilot < 2:
        fn()
        pilot += 1
    per_call = (time.perf_counter() - start) / pilot
    calls = max(3, int(seconds / max(per_call, 1e-9)))
    with meter.window("calibrate") as handle:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        wall = time.perf_counter() - t0
    w = handle.result
    return calls, w.energy_kwh * 3.6e6, wall, w.error or w.invalid_reason


def calibrate(
    seconds: float = 2.0,
    repeats: int = 3,
    size: int = 512,
    rows: int = 64,
    idle_seconds: float = 3.0,
    base: str | None = None,
    log=print,
) -> dict:
    """Measure and return a profile dict (not yet written)."""
    from pytest_cegi.core.settings import Settings
    from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter
    from pytest_cegi.measure.meters.flops import DEFAULT_PROFILE, load_profile

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    fallback = load_profile(base or DEFAULT_PROFILE)
    meter = CodecarbonMeter(Settings().carbon)
    try:
        return _calibrate(meter, fallback, seconds, repeats, size, rows, idle_seconds, log)
    finally:
        meter.close()


def _calibrate(meter, fallback, seconds, repeats, size, rows, idle_seconds, log) -> dict:
    import torch

    from pytest_cegi.core.run_file import machine_info
    from pytest_cegi.measure.meters.flop_formulas import count_flops
    from pytest_cegi.measure.meters.flops import PROFILE_SCHEMA, PROFILE_SCHEMA_VERSION

    # Static power: an idle window.
    idle = []
    for _ in range(repeats):
        with meter.window("calibrate-idle") as handle:
            t0 = time.perf_counter()
            time.sleep(idle_seconds)
            wall = time.perf_counter() - t0
        w = handle.result
        if w.error or w.invalid_reason:
            raise RuntimeError(f"codecarbon could not measure an idle window: {w.error or w.invalid_reason}")
        idle.append(w.energy_kwh * 3.6e6 / wall)
    static_watts = statistics.median(idle)
    log(f"static power: {static_watts:.3f} W (median of {repeats} idle windows of {idle_seconds:g} s)")

    workloads, why_missing = _workloads(size, rows)
    j: dict[str, float] = {}  # dtype class -> joules per FLOP
    r: dict[str, float] = {}  # dtype class -> FLOPs per second
    raw: dict[str, dict[str, Any]] = {}  # dtype class -> what its fit was made from (saved as JSON)
    not_measured: dict[str, str] = {}  # dtype class -> why
    for cls in _ORDER:
        fn = workloads.get(cls)
        if fn is None:
            not_measured[cls] = why_missing or "no workload"
            continue
        fn()  # first call may repack weights: keep it out of the counted call
        _, count = count_flops(fn)
        counts = count.nonzero()
        own = counts.get(cls, 0)
        if own == 0:
            not_measured[cls] = f"its workload counted no {cls} FLOPs ({counts})"
            continue
        others = {c: n for c, n in counts.items() if c != cls}
        if any(c not in j for c in others):
            not_measured[cls] = f"its workload also counts {sorted(others)}, not yet priced"
            continue
        known_j = sum(n * j[c] for c, n in others.items())
        known_t = sum(n / r[c] for c, n in others.items())
        js, rs, runs = [], [], []
        for _ in range(repeats):
            calls, joules, wall, error = _measure(meter, fn, seconds)
            if error:
                raise RuntimeError(f"codecarbon could not measure the {cls} workload: {error}")
            e_call, t_call = joules / calls, wall / calls
            js.append((e_call - static_watts * t_call - known_j) / own)
            rs.append(own / max(t_call - known_t, t_call * 0.05))
            runs.append({"calls": calls, "joules": joules, "wall_s": wall})
        fitted = statistics.median(js)
        raw_jf = statistics.median((run["joules"] / run["calls"]) / own for run in runs)
        clamped = fitted <= _FLOOR * raw_jf
        j[cls] = max(fitted, _FLOOR * raw_jf)
        r[cls] = statistics.median(rs)
        raw[cls] = {"flops_per_call": counts, "runs": runs, "fitted_joules_per_flop": fitted, "clamped": clamped}
        log(
            f"{cls:>5}: {r[cls] / 1e9:8.3f} GFLOP/s, {j[cls]:.3e} J/FLOP"
            f"{' (clamped: fit was <= 0, within noise)' if clamped else ''}"
        )

    classes = {}
    for cls in CLASSES:
        if cls in j:
            classes[cls] = {"joules_per_flop": j[cls], "flops_per_second": r[cls]}
        else:
            cost = fallback.classes[cls]
            classes[cls] = {"joules_per_flop": cost.joules_per_flop, "flops_per_second": cost.flops_per_second}
            not_measured.setdefault(cls, "not measured")

    cpu_label = meter.method().cpu
    import codecarbon

    now = _dt.datetime.now(_dt.timezone.utc)
    machine = machine_info()
    host = machine["hostname"]
    note = ""
    if not cpu_label.startswith("RAPL"):
        note = (
            " codecarbon had no RAPL counters here and modelled CPU power as TDP x load, so these "
            "figures track time and load, not metered watts."
        )
    if not_measured:
        note += (
            f" Not measured, copied from {fallback.label}: "
            + "; ".join(f"{c} ({why})" for c, why in sorted(not_measured.items()))
            + "."
        )
    profile = {
        "schema": PROFILE_SCHEMA,
        "schema_version": PROFILE_SCHEMA_VERSION,
        "name": f"calibrated-{host}",
        "version": now.strftime("%Y.%m.%d"),
        "device": "cpu",
        "source": (
            f"pytest-cegi calibrate on {host} ({machine['cpu']}, {machine['cpu_count']} logical CPUs), "
            f"{now:%Y-%m-%d %H:%M} UTC; energy from codecarbon {codecarbon.__version__} "
            f"(cpu: {cpu_label}); torch {torch.__version__}.{note}"
        ),
        "static_watts": static_watts,
        "classes": classes,
        "calibration": {
            "date": now.isoformat(timespec="seconds"),
            "host": host,
            "platform": machine["platform"],
            "codecarbon_cpu": cpu_label,
            "seconds_per_run": seconds,
            "repeats": repeats,
            "size": size,
            "rows": rows,
            "idle_watts": idle,
            "measurements": raw,
            "not_measured": not_measured,
        },
    }
    return profile


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pytest-cegi calibrate",
        description="Measure a flops-meter device profile for this machine with the codecarbon meter.",
    )
    p.add_argument("-o", "--output", default=None, help="profile file to write (default: flops-profile-<name>.json)")
    p.add_argument("--name", default=None, help="profile name (default: calibrated-<hostname>)")
    p.add_argument(
        "--version",
        dest="profile_version",
        default=None,
        help="profile version (default: today's UTC date, YYYY.MM.DD)",
    )
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per measured run (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="runs per class; the median is kept (default 3)")
    p.add_argument("--idle-seconds", type=float, default=3.0, help="seconds per idle window (default 3)")
    p.add_argument("--size", type=int, default=512, help="matmul width K = N (default 512)")
    p.add_argument("--rows", type=int, default=64, help="matmul rows M, the batch (default 64)")
    p.add_argument(
        "--base", default=None, help="profile to copy classes that cannot be measured from (default generic-cpu)"
    )
    return p


def calibrate_main(argv=None) -> int:
    """Entry point for `pytest-cegi calibrate`; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.seconds <= 0 or args.repeats < 1 or args.size < 64 or args.rows < 1 or args.idle_seconds <= 0:
        print(
            "pytest-cegi calibrate: --seconds and --idle-seconds must be > 0, --repeats >= 1, "
            "--size >= 64, --rows >= 1",
            file=sys.stderr,
        )
        return 2
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        print(f"pytest-cegi calibrate: needs torch ({exc}); pip install 'pytest-cegi[models]'", file=sys.stderr)
        return 2
    from pytest_cegi.core.run_file import atomic_write_text
    from pytest_cegi.measure.meters.flops import ProfileError, parse_profile

    try:
        profile = calibrate(
            seconds=args.seconds,
            repeats=args.repeats,
            size=args.size,
            rows=args.rows,
            idle_seconds=args.idle_seconds,
            base=args.base,
        )
    except (RuntimeError, ProfileError) as exc:
        print(f"pytest-cegi calibrate: {exc}", file=sys.stderr)
        return 1
    if args.name:
        profile["name"] = args.name
    if args.profile_version:
        profile["version"] = args.profile_version
    output = Path(args.output or f"flops-profile-{profile['name']}.json")
    try:
        parse_profile(profile, str(output))  # never write a profile the meter would refuse
    except ProfileError as exc:
        print(f"pytest-cegi calibrate: measured profile does not validate: {exc}", file=sys.stderr)
        return 1
    atomic_write_text(output, json.dumps(profile, indent=2, sort_keys=False) + "\n")
    print(
        f"wrote {output} (profile {profile['name']}@{profile['version']}); use it with "
        f"CEGI_FLOPS_PROFILE={output} pytest --cegi-meter=flops"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(calibrate_main())
