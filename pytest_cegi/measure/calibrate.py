"""`pytest-cegi calibrate`: fit a version 2 device profile for this machine.

The work model (`pytest_cegi.measure.profile`) prices counted work:

    E = sum_c F_c * j_c + B * j_B + D * j_D + static_watts * T
    T = sum_c F_c / r_c + B / r_B + D / r_D

for FLOP classes c, bytes moved B and op dispatches D. Calibration runs
micro-workloads, each a callable doing a fixed amount of work, chosen so that each
unit dominates at least one of them:

* FLOP-bound: `torch.mm` of two N x N matrices in fp32, fp64, bf16 and fp16;
  bitsandbytes `Linear8bitLt` (int8) and `Linear4bit` nf4 (int4) in eval mode, and
  `int8_vectorwise_quant` (quant), when bitsandbytes imports;
* byte-bound: `torch.add(a, b, out=c)` and `c.copy_(a)` on large fp32 tensors;
* dispatch-bound: a Python loop of `torch.add` on 1-element tensors, and a stack of
  tiny `nn.Linear`/`nn.LayerNorm` modules called through `nn.Module.__call__`.
  Model code pays the framework's overhead per dispatch and these do not, so they
  are measured and their residuals recorded, but not fitted;
* model code: a tiny Llama (random weights) generating at batch 1, 8 and 32,
  when transformers imports. Per dispatch, model code also runs the framework's
  Python (masks, cache updates, logits processing): these pin the dispatch price to
  what models pay.

Each workload is measured `--repeats` times inside the codecarbon meter's windows
(the meter `--cegi-meter=codecarbon` uses: *attributed* energy, the process's own
CPU time priced by codecarbon's power model), each repeat calling it for about
`--seconds`; the lowest energy per call and the lowest time per call are kept (a
neighbour on the machine only ever adds). One call's work is counted with
`count_work`, outside the measured windows. The fit, by non-negative least squares:

1. time: measured time per call = sum_u work_u x tau_u, for tau_u = 1/r_u >= 0.
   The time is the process's CPU time (all threads) where the meter attributes
   energy from it, as `attribution` does; wall time otherwise. A tau the fit sets to
   0 would be an infinite rate: it is clamped to a tiny positive value (the unit then
   costs at most 1e-6 of any workload's time) and flagged `clamped`;
2. static_watts: the lowest energy per second of `--idle-repeats` idle windows
   (attributed energy is ~0 there: an idle process burns no CPU time);
3. energy: measured energy per call = sum_u work_u x j_u + static_watts x T_model.

Both fits minimise the sum over workloads of log(modelled / measured)^2 (iteratively
reweighted NNLS), so a workload 2x over and one 2x under weigh alike, whatever
their absolute size. The profile is written atomically with every raw
measurement, the work counted per call, and each workload's modelled / measured
ratio (`calibration.residuals`).

    pytest-cegi calibrate [-o profile.json] [--name NAME] [--seconds 2] [--repeats 5]
    CEGI_FLOPS_PROFILE=profile.json pytest --cegi-meter=flops ...
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_cegi.measure.calibrate_fit import (  # the fit: re-exported for callers of this module
    Fit,
    Measurement,
    _nnls,
    fit,
    fit_summary,
    prices,
    residuals,
    unit_amount,
)
from pytest_cegi.measure.calibrate_workloads import workloads
from pytest_cegi.measure.meters.flop_formulas import CLASSES
from pytest_cegi.measure.profile import UNITS

__all__ = ["CLASSES", "Fit", "Measurement", "calibrate", "calibrate_main", "fit", "residuals", "unit_amount"]

# -- measuring -----------------------------------------------------------------------


def _window_run(meter, phase: str, body: Callable[[], None]) -> dict[str, Any]:
    """Run `body` in one meter window; the window's figures as a JSON-able dict."""
    with meter.window(phase) as handle:
        t0, c0 = time.perf_counter(), time.process_time()
        body()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    w = handle.result
    problem = w.error or w.invalid_reason
    if problem:
        raise RuntimeError(f"codecarbon could not measure a {phase} window: {problem}")
    return {
        "joules": w.energy_kwh * 3.6e6,
        "cpu_energy_j": w.cpu_energy_kwh * 3.6e6,
        "ram_energy_j": w.ram_energy_kwh * 3.6e6,
        "wall_s": wall,
        # the window's own CPU-time reading (what attribution priced) when it has one
        "cpu_s": w.cpu_seconds if w.cpu_seconds is not None else cpu,
    }


def _calls_for(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls of fn take about `seconds` (a short pilot, after one warm-up)."""
    fn()
    start = time.perf_counter()
    pilot = 0
    while time.perf_counter() - start < min(0.2, seconds / 2) or pilot < 2:
        fn()
        pilot += 1
    per_call = (time.perf_counter() - start) / pilot
    return max(3, round(seconds / max(per_call, 1e-9)))


def calibrate(
    seconds: float = 2.0,
    repeats: int = 5,
    size: int = 512,
    rows: int = 64,
    idle_seconds: float = 2.0,
    idle_repeats: int = 3,
    elements: int = 8 * 1024 * 1024,
    tiny_ops: int = 1000,
    modules: int = 100,
    base: str | None = None,
    log: Callable[[str], Any] = print,
) -> dict:
    """Measure, fit and return a version 2 profile dict (not yet written)."""
    from pytest_cegi.core.settings import Settings
    from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter

    _nnls()  # fail before minutes of measuring, not after
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    meter = CodecarbonMeter(Settings().carbon)
    sizes = {"size": size, "rows": rows, "elements": elements, "tiny_ops": tiny_ops, "modules": modules}
    # bitsandbytes logs a warning on every int8 call with fp32 inputs (they are cast to
    # fp16): silenced, so the int8 workload measures the kernels, not a log handler.
    bnb_logger = logging.getLogger("bitsandbytes")
    bnb_level = bnb_logger.level
    bnb_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _calibrate(meter, seconds, repeats, idle_seconds, idle_repeats, sizes, base, log)
    finally:
        bnb_logger.setLevel(bnb_level)
        meter.close()


def _calibrate(meter, seconds, repeats, idle_seconds, idle_repeats, sizes, base, log) -> dict:
    import codecarbon
    import torch

    from pytest_cegi.core.run_file import machine_info
    from pytest_cegi.measure.profile import PROFILE_SCHEMA, PROFILE_SCHEMA_VERSION, parse_profile
    from pytest_cegi.measure.work import count_work

    started = time.perf_counter()
    idle = [_window_run(meter, "calibrate-idle", lambda: time.sleep(idle_seconds)) for _ in range(idle_repeats)]
    for run in idle:
        run["watts"] = run["joules"] / run["wall_s"]
    static_watts = max(0.0, min(run["watts"] for run in idle))
    method = meter.method()
    cpu_time = method.basis == "attributed"
    basis_text = "process CPU seconds (all threads)" if cpu_time else "wall seconds"
    log(f"static power: {static_watts:.4g} W (lowest of {idle_repeats} idle windows of {idle_seconds:g} s)")
    log(f"time basis: {basis_text} ({method.basis} energy: {method.cpu})")

    loads, why_missing = workloads(**sizes)
    measurements: list[Measurement] = []
    raw: dict[str, dict[str, Any]] = {}
    for load in loads:
        calls = _calls_for(load.fn, seconds)
        _, work = count_work(load.fn)  # one call, outside the measured windows
        counted = work.to_dict()

        def body(fn=load.fn, calls=calls):
            for _ in range(calls):
                fn()

        runs = [_window_run(meter, f"calibrate-{load.name}", body) for _ in range(repeats)]
        for run in runs:
            run["calls"] = calls
        time_key = "cpu_s" if cpu_time else "wall_s"
        per_call_s = min(run[time_key] for run in runs) / calls
        per_call_j = min(run["joules"] for run in runs) / calls
        if per_call_s <= 0 or per_call_j <= 0:
            raise RuntimeError(f"workload {load.name} measured no time or energy ({runs}); raise --seconds")
        measurements.append(Measurement(load.name, counted, per_call_s, per_call_j))
        raw[load.name] = {
            "target": load.target,
            "fitted": load.fitted,
            "what": load.what,
            "work_per_call": counted,
            "runs": runs,
            "seconds_per_call": per_call_s,
            "joules_per_call": per_call_j,
        }
        log(f"{load.name:>22}: {per_call_s * 1e3:10.4f} ms, {per_call_j * 1e3:10.4f} mJ per call ({calls} calls)")

    fitted = fit([m for m, load in zip(measurements, loads, strict=True) if load.fitted], static_watts)
    classes, unit_entries, not_measured, fallback = prices(fitted, base, why_missing or "no workload exercises it")

    method = meter.method()  # final, after the windows
    now = _dt.datetime.now(_dt.timezone.utc)
    machine = machine_info()
    host = machine["hostname"]
    profile: dict[str, Any] = {
        "schema": PROFILE_SCHEMA,
        "schema_version": PROFILE_SCHEMA_VERSION,
        "name": f"calibrated-{host}",
        "version": now.strftime("%Y.%m.%d"),
        "device": "cpu",
        "source": "(set below, once the residuals are known)",
        "static_watts": static_watts,
        "classes": classes,
        **unit_entries,
    }
    measured_profile = parse_profile(profile, "calibration")
    checked = residuals(measured_profile, measurements)
    elapsed = time.perf_counter() - started
    profile["calibration"] = {
        "date": now.isoformat(timespec="seconds"),
        "host": host,
        "platform": machine["platform"],
        "cpu": machine["cpu"],
        "cpu_count": machine["cpu_count"],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "codecarbon": codecarbon.__version__,
        "energy_basis": method.basis,
        "codecarbon_cpu": method.cpu,
        "codecarbon_ram": method.ram,
        "time_basis": basis_text,
        "seconds_per_run": seconds,
        "repeats": repeats,
        "rule": "lowest energy per call and lowest time per call of the repeats, separately",
        "sizes": sizes,
        "idle": {"seconds": idle_seconds, "runs": idle, "static_watts": static_watts, "rule": "lowest watts"},
        "workloads": raw,
        "fit": fit_summary(fitted, "workload"),
        "residuals": checked["workloads"],
        "summary": checked["summary"],
        "not_measured": not_measured,
        "elapsed_s": elapsed,
    }
    note = ""
    if method.estimate:
        note += (
            " No RAPL counters here: codecarbon models CPU power from its TDP table, so these figures "
            "track CPU time, not metered watts."
        )
    if not_measured:
        note += (
            f" Not measured, copied from {fallback.label if fallback else base}: "
            + "; ".join(f"{u} ({why})" for u, why in sorted(not_measured.items()))
            + "."
        )
    profile["source"] = (
        f"pytest-cegi calibrate on host {host!r} ({machine['cpu']}, {machine['cpu_count']} logical CPUs), "
        f"{now:%Y-%m-%d %H:%M} UTC; torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"energy: codecarbon {codecarbon.__version__} meter windows, {method.basis} ({method.cpu}"
        f"{'; RAM: ' + method.ram if method.ram else ''}); rates are per {basis_text}. "
        f"Fitted by NNLS over {len(measurements)} micro-workloads (lowest of {repeats} repeats each); "
        f"modelled / measured energy per workload within a factor "
        f"{math.exp(checked['summary']['max_abs_log_ratio']):.2f} (calibration.residuals).{note}"
    )
    return profile


# -- the command ---------------------------------------------------------------------


def format_table(profile: Mapping[str, Any]) -> str:
    """The fit and its residuals, for people."""
    cal = profile["calibration"]
    clamped = set(cal["fit"]["clamped"])
    per = "CPU-s" if cal["time_basis"].startswith("process") else "s"
    lines = [f"{'unit':<9}{'rate (/' + per + ')':>16}{'joules/unit':>14}  note"]
    for cls in CLASSES:
        c = profile["classes"][cls]
        note = "clamped" if cls in clamped else ("not measured" if cls in cal["not_measured"] else "")
        lines.append(f"{cls:<9}{c['flops_per_second']:>16.4g}{c['joules_per_flop']:>14.4g}  {note}")
    for key, joules_key, rate_key, _ in UNITS:
        c = profile[key]
        note = "clamped" if key in clamped else ""
        lines.append(f"{key:<9}{c[rate_key]:>16.4g}{c[joules_key]:>14.4g}  {note}")
    lines.append(f"static_watts {profile['static_watts']:.4g}")
    lines.append("")
    lines.append(f"{'workload':<24}{'measured mJ':>13}{'modelled mJ':>13}{'ratio':>8}{'time ratio':>12}")
    for name, r in cal["residuals"].items():
        lines.append(
            f"{name:<24}{r['measured_joules'] * 1e3:>13.5g}{r['modelled_joules'] * 1e3:>13.5g}"
            f"{r['ratio']:>8.3f}{r['time_ratio']:>12.3f}"
        )
    s = cal["summary"]
    lines.append(
        f"max |log ratio| {s['max_abs_log_ratio']:.3f} (x{math.exp(s['max_abs_log_ratio']):.2f}, {s['worst']}), "
        f"rms {s['rms_log_ratio']:.3f}; took {cal['elapsed_s']:.0f} s"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pytest-cegi calibrate",
        description="Fit a version 2 device profile (FLOPs, bytes, dispatches) for this machine "
        "from codecarbon meter windows.",
    )
    p.add_argument("-o", "--output", default=None, help="profile file to write (default: flops-profile-<name>.json)")
    p.add_argument("--name", default=None, help="profile name (default: calibrated-<hostname>)")
    p.add_argument(
        "--version",
        dest="profile_version",
        default=None,
        help="profile version (default: today's UTC date, YYYY.MM.DD)",
    )
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per measured repeat (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="repeats per workload; the lowest is kept (default 5)")
    p.add_argument("--idle-seconds", type=float, default=2.0, help="seconds per idle window (default 2)")
    p.add_argument("--idle-repeats", type=int, default=3, help="idle windows (default 3)")
    p.add_argument("--size", type=int, default=512, help="matmul size N (N x N @ N x N) and layer width (default 512)")
    p.add_argument("--rows", type=int, default=64, help="batch rows of the bitsandbytes layers (default 64)")
    p.add_argument(
        "--elements",
        type=int,
        default=8 * 1024 * 1024,
        help="fp32 elements of the byte-bound tensors (default 8Mi)",
    )
    p.add_argument(
        "--from-run",
        metavar="RUN.json",
        default=None,
        help="fit the profile to the windows of a saved run (pytest --cegi-repeat 3 --cegi-save RUN.json) "
        "instead of measuring micro-workloads",
    )
    p.add_argument("--note", default="", help="text appended to the profile's source")
    p.add_argument(
        "--base", default=None, help="profile to copy units that cannot be measured from (default generic-cpu)"
    )
    return p


def calibrate_main(argv=None) -> int:
    """Entry point for `pytest-cegi calibrate`; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.from_run:
        return _from_run_main(args)
    if (
        args.seconds <= 0
        or args.idle_seconds <= 0
        or args.repeats < 1
        or args.idle_repeats < 1
        or args.size < 64
        or args.rows < 1
        or args.elements < 1024
    ):
        print(
            "pytest-cegi calibrate: --seconds and --idle-seconds must be > 0, --repeats and --idle-repeats >= 1, "
            "--size >= 64, --rows >= 1, --elements >= 1024",
            file=sys.stderr,
        )
        return 2
    from pytest_cegi.measure.meters.attribution import omp_wait_policy

    omp_note = omp_wait_policy()  # as the plugin does, before torch loads OpenMP
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        print(f"pytest-cegi calibrate: needs torch ({exc}); pip install 'pytest-cegi[models]'", file=sys.stderr)
        return 2
    from pytest_cegi.core.run_file import atomic_write_text
    from pytest_cegi.measure.profile import ProfileError, parse_profile

    if omp_note:
        print(omp_note)
    try:
        profile = calibrate(
            seconds=args.seconds,
            repeats=args.repeats,
            size=args.size,
            rows=args.rows,
            idle_seconds=args.idle_seconds,
            idle_repeats=args.idle_repeats,
            elements=args.elements,
            base=args.base,
        )
    except (RuntimeError, ProfileError) as exc:
        print(f"pytest-cegi calibrate: {exc}", file=sys.stderr)
        return 1
    profile["calibration"]["omp_wait_policy"] = omp_note
    output = _named(profile, args)
    try:
        parse_profile(profile, str(output))  # never write a profile the meter would refuse
    except ProfileError as exc:
        print(f"pytest-cegi calibrate: measured profile does not validate: {exc}", file=sys.stderr)
        return 1
    atomic_write_text(output, json.dumps(profile, indent=2, sort_keys=False) + "\n")
    print(format_table(profile))
    print(
        f"wrote {output} (profile {profile['name']}@{profile['version']}); use it with "
        f"CEGI_FLOPS_PROFILE={output} pytest --cegi-meter=flops"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(calibrate_main())


def _named(profile: dict[str, Any], args) -> Path:
    """Apply --name, --version and --note; the file to write."""
    if args.name:
        profile["name"] = args.name
    if args.profile_version:
        profile["version"] = args.profile_version
    if args.note:
        profile["source"] += " " + args.note.strip()
    return Path(args.output or f"flops-profile-{profile['name']}.json")


def _from_run_main(args) -> int:
    """`--from-run`: fit to a saved run's windows (no measuring, no torch needed)."""
    from pytest_cegi.core.run_file import BaselineError, atomic_write_text, load_run
    from pytest_cegi.measure.calibrate_run import RunCalibrationError, fit_run
    from pytest_cegi.measure.profile import ProfileError

    try:
        profile = fit_run(load_run(args.from_run), args.from_run, base=args.base)
    except (BaselineError, RunCalibrationError, ProfileError, RuntimeError) as exc:
        print(f"pytest-cegi calibrate: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, BaselineError) else 1
    output = _named(profile, args)
    atomic_write_text(output, json.dumps(profile, indent=2) + "\n")
    print(format_table(profile))
    print(f"wrote {output} (profile {profile['name']}@{profile['version']}), fitted to {args.from_run}")
    return 0
