"""How well the work model tracks measured energy across the main job's tests, under
three profiles, from one saved run (cheap: it only reads the file and fits).

    pytest benchmarks/ --cegi-repeat 3 --cegi-save run.json     # a measured run (codecarbon)
    python benchmarks/scripts/work_model_fit.py run.json [--profile generic-cpu]

For every test, measured = the lowest repeat of each counted window (inference; fine-
tuning windows are not counted), summed; modelled = the same windows' counted work
priced by:

1. the shipped profile (`--profile`, default generic-cpu: micro-workloads);
2. a profile fitted to this run's windows (`pytest-cegi calibrate --from-run`), in
   sample: the best this linear model can do on these tests;
3. leave one suite out: for each benchmark file, a profile fitted to the *other*
   files' windows prices its tests, so no test is priced by a fit that saw it.

It prints, for each, the Spearman rank correlation of modelled and measured energy
over tests and the range of modelled/measured ratios (targets: rho >= 0.9, every
ratio within 0.5-2x).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

from pytest_cegi.measure.calibrate_run import fit_run, predictions, window_measurements
from pytest_cegi.measure.profile import load_profile


def _suite(name: str) -> str:
    return name.split("::", 1)[0]


def _test(name: str) -> str:
    return name.rsplit(" [", 1)[0]


def per_test(values: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for name, v in values.items():
        totals[_test(name)] += v
    return dict(totals)


def describe(label: str, modelled: dict[str, float], measured: dict[str, float]) -> str:
    from scipy.stats import spearmanr

    tests = sorted(measured)
    rho = spearmanr([modelled[t] for t in tests], [measured[t] for t in tests]).statistic
    ratios = [modelled[t] / measured[t] for t in tests]
    inside = sum(0.5 <= r <= 2 for r in ratios)
    worst = max(tests, key=lambda t: abs(math.log(modelled[t] / measured[t])))
    return (
        f"{label:<34} rho {rho:5.3f}  ratio {min(ratios):.2f}-{max(ratios):.2f}x  "
        f"{inside}/{len(tests)} within 0.5-2x  worst {worst.split('/')[-1]} {modelled[worst] / measured[worst]:.2f}x"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--profile", default="generic-cpu", help="the shipped profile to judge (default generic-cpu)")
    args = parser.parse_args(argv)

    from pytest_cegi.core.run_file import load_run

    run = load_run(args.run)
    measurements, left_out = window_measurements(run)
    measured = per_test({m.name: m.joules for m in measurements})
    shipped = load_profile(args.profile)
    lines = [
        f"{len(measurements)} counted windows of {len(measured)} tests in {args.run}; "
        f"{len(left_out)} windows left out (not counted: fine-tuning, or replayed)",
        describe(
            f"shipped {shipped.label}", per_test({m.name: shipped.price(m.work).joules for m in measurements}), measured
        ),
    ]
    in_sample = fit_run(run, str(args.run))
    lines.append(describe("fitted to this run (in sample)", per_test(predictions(in_sample, measurements)), measured))

    held_out: dict[str, float] = {}
    for suite in sorted({_suite(m.name) for m in measurements}):
        others = {**run, "records": [r for r in run["records"] if _suite(r["nodeid"]) != suite]}
        profile = fit_run(others, f"{args.run} without {suite}")
        mine = [m for m in measurements if _suite(m.name) == suite]
        held_out.update(predictions(profile, mine))
    lines.append(describe("leave one suite out", per_test(held_out), measured))
    print("\n".join(lines))
    print(json.dumps({"fitted_prices": {k: in_sample[k] for k in ("bytes", "dispatch")}}, indent=None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
