"""Gate power: how often each gate mode catches a known inference regression, and how
often it cries wolf, beside a CPU hog.

A real test (the summarize suite's tiny model generating for a fixed set of prompts,
one torch thread) runs in pytest sessions with `--cegi-repeat N --cegi-save`. Head
sessions inject a known regression of identical work: `CEGI_GP_EXTRA=0.25` makes every
window make 25 % more generate() calls, repeating its first ones. Every session runs
while a separate process spins on one core (the CPU hog), so measurements see a busy
shared machine.

Each saved run is then compared with every baseline run through `comparison.compare`
(what `pytest-cegi compare` runs), at the default tolerances, in four gate modes:

  machine     codecarbon's machine-level reading, one repeat (what 0.1 gated on)
  attributed  the test process's attributed energy, one repeat (the first)
  repeated    attributed energy, all N repeats, Mann-Whitney U (the default gate)
  cost        the counted FLOPs (deterministic cost)

A comparison is one test in one (baseline run, head run) pair; pairs share runs, so
the comparisons are not independent: read the rates with that in mind.

    python benchmarks/scripts/gate_power.py [--runs 6] [--head-runs 3] [--tests 12] [--repeat 5]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEVELS = (0.10, 0.25, 0.50, 1.00)
MODES = ("machine", "attributed", "repeated", "cost")

TEST_FILE = """
import json, os, pytest
from pytest_cegi import Variant

MODEL = {model!r}
PROMPTS = [json.loads(line)["prompt"] for line in open({data!r}, encoding="utf-8")]
EXTRA = float(os.environ.get("CEGI_GP_EXTRA", "0"))

@pytest.fixture(scope="module")
def handle():
    import torch
    torch.set_num_threads(1)
    from pytest_cegi.models.variants import prepare
    return prepare(Variant("base", MODEL))

@pytest.mark.cegi(task="gate-power")
@pytest.mark.parametrize("case", range({tests}))
def test_generate(cegi, handle, case):
    # CALLS generate() calls of 2 prompts each; the injected regression adds calls that
    # repeat the first ones: identical work, so the true cost rises by EXTRA exactly.
    batches = [[PROMPTS[(case * 7 + 2 * i + j) % len(PROMPTS)] for j in range(2)] for i in range({calls})]
    batches += batches[: round(len(batches) * EXTRA)]
    handle.on_requests, handle.on_tokens = cegi.count_requests, cegi.count_tokens

    def serve():
        return [out for batch in batches for out in handle.generate(batch, max_new_tokens=16)]

    out = cegi.measure_call(serve)
    cegi.record_score(len(out) / (2 * len(batches)))
"""


def hog(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def session(project: Path, out: Path, extra: float, repeat: int) -> float:
    env = dict(
        os.environ,
        CEGI_GP_EXTRA=str(extra),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
    )
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--cegi-repeat={repeat}",
            f"--cegi-save={out}",
            "--cegi-carbon-intensity=475",
            str(project),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
    )
    if done.returncode != 0:
        sys.exit(f"session failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def as_mode(run: dict, mode: str) -> dict:
    """The run as a gate in `mode` would see it (same figures, fewer of them)."""
    run = copy.deepcopy(run)
    for rec in run["records"]:
        for w in rec["windows"]:
            if mode == "machine":
                first = (w["details"].get("machine_samples") or [w["machine_energy_kwh"]])[0]
                w["energy_kwh"], w["emissions_kg"], w["samples"] = first, first * 0.475, []
            elif mode == "attributed":
                first = (w["samples"] or [w["energy_kwh"]])[0]
                w["energy_kwh"], w["emissions_kg"], w["samples"] = first, first * 0.475, []
    if mode == "machine":  # the meter description must match on both sides; keep it
        run["meter"] = dict(run["meter"], basis="machine")
    return run


def flagged(base: dict, head: dict, mode: str) -> list[bool]:
    from pytest_cegi.judge.comparison import compare

    quantity = "cost" if mode == "cost" else "energy"
    result = compare(as_mode(base, mode), as_mode(head, mode))
    return [r.deltas[quantity].status == "regression" for r in result.records if quantity in r.deltas]


def rates(base_runs: list, head_runs: list, mode: str, same: bool) -> tuple[int, int]:
    pairs = itertools.combinations(base_runs, 2) if same else itertools.product(base_runs, head_runs)
    hits = [f for b, h in pairs for f in flagged(b, h, mode)]
    return sum(hits), len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="baseline (unchanged) sessions")
    parser.add_argument("--head-runs", type=int, default=3, help="sessions per regression level")
    parser.add_argument("--tests", type=int, default=12, help="tests per session")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10, help="generate() calls per window (10: +10%% is one call)")
    parser.add_argument("--no-hog", action="store_true", help="measure without the CPU hog")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cegi-gate-power-"))
    project = work / "project"
    project.mkdir()
    (project / "test_gate_power.py").write_text(
        TEST_FILE.format(
            model=str(ROOT / "benchmarks/models/summarize-tiny"),
            data=str(ROOT / "benchmarks/data/summarize/test.jsonl"),
            tests=args.tests,
            calls=args.calls,
        )
    )
    stop = multiprocessing.Event()
    hogger = None if args.no_hog else multiprocessing.Process(target=hog, args=(stop,), daemon=True)
    if hogger:
        hogger.start()
    runs: dict = {0.0: []}
    runs.update({level: [] for level in LEVELS})
    seconds = []
    try:
        # Interleave conditions so slow drifts of the machine hit all of them alike.
        schedule = [0.0] * args.runs + [lv for lv in LEVELS for _ in range(args.head_runs)]
        order = sorted(range(len(schedule)), key=lambda i: (i % max(args.runs, 1), i))
        for n, i in enumerate(order):
            extra = schedule[i]
            out = work / f"run-{n}-{extra}.json"
            seconds.append(session(project, out, extra, args.repeat))
            runs[extra].append(json.loads(out.read_text()))
            print(f"  session {n + 1}/{len(schedule)} (+{extra:.0%}) {seconds[-1]:.1f} s", flush=True)
    finally:
        stop.set()
        if hogger:
            hogger.join(timeout=5)

    base = runs[0.0]
    print(
        f"\ngate power: {args.tests} tests per session, --cegi-repeat {args.repeat}, default tolerances, "
        f"{'a CPU hog on one core' if hogger else 'no hog'}; {args.runs} unchanged sessions, "
        f"{args.head_runs} per regression level; median session {sorted(seconds)[len(seconds) // 2]:.0f} s"
    )
    header = "| mode | false alarms (unchanged) | " + " | ".join(f"caught at +{lv:.0%}" for lv in LEVELS) + " |"
    print(header)
    print("|---" * (2 + len(LEVELS)) + "|")
    for mode in MODES:
        fa, n = rates(base, [], mode, same=True)
        cells = [f"{fa}/{n} ({fa / n:.1%})" if n else "-"]
        for lv in LEVELS:
            hit, m = rates(base, runs[lv], mode, same=False)
            cells.append(f"{hit}/{m} ({hit / m:.0%})" if m else "-")
        print(f"| {mode} | " + " | ".join(cells) + " |")
    print(f"\nrun files: {work}")


if __name__ == "__main__":
    main()
