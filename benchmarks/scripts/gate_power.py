"""Gate power: how often each gate mode catches a known inference regression, and how
often it cries wolf, beside a CPU hog.

A real test (the summarize suite's tiny model generating for a fixed set of prompts,
one torch thread) runs in pytest sessions with `--cegi-repeat N --cegi-save`. Head
sessions inject a known regression of identical work: `CEGI_GP_EXTRA=0.25` makes every
window make 25 % more generate() calls, repeating its first ones. Every session runs
while a separate process spins on one core (the CPU hog), so measurements see a busy
shared machine.

Each saved run is then compared with every other unchanged run (false alarms) and every
baseline run with every head run (detection), in these modes:

  machine-1     codecarbon's machine-level reading, first repeat, tolerance alone
                (the rule 0.1 gated on; shown for reference, no longer a gate)
  attributed-1  the process's attributed energy, first repeat, tolerance alone (10 %:
                what an unrepeated window would give at the repeated rule's tolerance)
  single-sample the gate's single-sample rule on each side's first repeat (beyond 2x
                either way by default): what a `with cegi.measure():` block gets
  energy        the energy rule of `pytest-cegi compare` at its defaults: lowest of the
                repeats beyond 10 %, and a one-sided Mann-Whitney U test agreeing
  cost          the counted FLOPs rule (1 %)
  gate          any rule of `pytest-cegi compare` at its defaults (score, cost, energy,
                emissions, CEGI): what fails the pull request

A comparison is one test in one (baseline run, head run) pair; pairs share runs, so
the comparisons are not independent: read the rates with that in mind. Unchanged runs
are compared both ways round (a faster head is a candidate false alarm too).
`--from DIR` re-evaluates the runs an earlier invocation saved (it prints the folder).
`--pool K` adds the energy rule on pools of K sessions a side (`pytest-cegi pool`, what
`ab_energy.py --rounds K` compares): disjoint pools of unchanged sessions for false
alarms, every K baseline sessions against every K head sessions for detection.

    python benchmarks/scripts/gate_power.py [--runs 6] [--head-runs 3] [--tests 12] [--repeat 5]
        [--calls 10] [--levels 0.1,0.25,0.5,1.0] [--pool K] [--from DIR]

The same-runner A/B at exactly +25 % (8 calls a window, so 2 extra calls are 25 %),
base and head sessions alternated: `--runs 8 --head-runs 8 --levels 0.25 --calls 8
--pool 3`. The single-sample rule against a 3x regression: `--levels 2.0`.

`--duet` runs duets instead: a base session (unchanged) and a head session (unchanged
for false alarms, +level for detection) at the same time, each pinned to its own core
(`--no-pin` to let them float), repeats in step (`--duet-mode alternate`: taking
turns). Each test is judged by the duet rule (pytest_cegi/judge/duet.py: paired
head/base ratios, bootstrap interval) at each of `--duet-tolerances`, and, for
comparison, by the lowest head repeat against the lowest base repeat of the same duet.
The base sides of different duets are also compared as ordinary sessions (energy and
single-sample rules), so both approaches are measured on the same sessions.
`--threads N` sets torch's threads per measured process.

    python benchmarks/scripts/gate_power.py --duet [--runs 8] [--head-runs 3] [--no-hog]
        [--no-pin] [--duet-mode alternate] [--threads 1] [--duet-tolerances 5%,10%,15%]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEVELS = (0.10, 0.25, 0.50, 1.00)
MODES = ("machine-1", "attributed-1", "single-sample", "energy", "cost", "gate")

TEST_FILE = """
import json, os, pytest
from pytest_cegi import Variant

MODEL = {model!r}
PROMPTS = [json.loads(line)["prompt"] for line in open({data!r}, encoding="utf-8")]
EXTRA = float(os.environ.get("CEGI_GP_EXTRA", "0"))

@pytest.fixture(scope="module")
def handle():
    import torch
    torch.set_num_threads({threads})
    from pytest_cegi.models.variants import prepare
    return prepare(Variant("base", MODEL))

@pytest.mark.cegi(task="gate-power")
@pytest.mark.parametrize("case", range({tests}))
def test_generate(cegi, handle, case):
    # CALLS generate() calls of 2 prompts each; the injected regression adds calls that
    # repeat the first ones: identical work, so the true cost rises by EXTRA exactly.
    batches = [[PROMPTS[(case * 7 + 2 * i + j) % len(PROMPTS)] for j in range(2)] for i in range({calls})]
    batches += (batches * 4)[: round(len(batches) * EXTRA)]  # EXTRA up to 4: up to 5x the work
    handle.on_requests, handle.on_tokens = cegi.count_requests, cegi.count_tokens

    def serve():
        return [out for batch in batches for out in handle.generate(batch, max_new_tokens=16)]

    out = cegi.measure_call(serve)
    cegi.record_score(len(out) / (2 * len(batches)))
"""


def hog(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def start_session(
    project: Path, out: Path, extra: float, repeat: int, cpus: set[int] | None = None, env_extra: dict | None = None
) -> subprocess.Popen:
    env = dict(
        os.environ,
        CEGI_GP_EXTRA=str(extra),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
        **(env_extra or {}),
    )
    return subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=project,
        # Pinned before exec, so torch's thread pool starts on the side's own core.
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )


def finish(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"session failed:\n{output[-6000:]}")


def session(project: Path, out: Path, extra: float, repeat: int) -> float:
    started = time.perf_counter()
    finish(start_session(project, out, extra, repeat))
    return time.perf_counter() - started


def duet(
    project: Path, work: Path, n: int, extra: float, repeat: int, pin: bool | str, mode: str = "together"
) -> tuple[dict, dict, float]:
    """Base (unchanged) and head (+extra) sessions at once, repeats in step; sides swap
    cores every other duet so a slower core is not always one side's."""
    folder = work / f"duet-{n}"
    folder.mkdir()
    from pytest_cegi.measure.duet import pinnable_cores

    cores = pinnable_cores()
    swap = pin == "swap" and len(cores) >= 2 and mode == "together"
    pinned = pin is True and len(cores) >= 2 and mode == "together"  # taking turns, a side may use any core
    order = ("base", "head") if n % 2 == 0 else ("head", "base")
    cpus = {side: ({cores[i]} if pinned else None) for i, side in enumerate(order)}
    outs = {side: work / f"duet-{n}-{side}-{extra if side == 'head' else 0.0}.json" for side in ("base", "head")}
    started = time.perf_counter()
    procs = [
        start_session(
            project,
            outs[side],
            extra if side == "head" else 0.0,
            repeat,
            cpus[side],
            {
                "CEGI_DUET_DIR": str(folder),
                "CEGI_DUET_ROLE": side,
                "CEGI_DUET_MODE": mode,
                **({"CEGI_DUET_CORES": f"{cores[0]},{cores[1]}"} if swap else {}),
            },
        )
        for side in ("base", "head")
    ]
    for proc in procs:
        finish(proc)
    return json.loads(outs["base"].read_text()), json.loads(outs["head"].read_text()), time.perf_counter() - started


def first_sample(window: dict, machine: bool) -> float:
    if machine:
        return (window["details"].get("machine_samples") or [window["machine_energy_kwh"]])[0]
    return (window["samples"] or [window["energy_kwh"]])[0]


def flagged(base: dict, head: dict, mode: str) -> list[bool]:
    """Per test of the pair: did this mode call it a regression?"""
    from pytest_cegi.judge.comparison import compare
    from pytest_cegi.judge.regression import DEFAULT_TOLERANCES

    if mode.endswith("-1"):  # single samples, tolerance alone: computed here, not a gate
        allowed = DEFAULT_TOLERANCES["energy"].value
        machine = mode == "machine-1"
        b = {r["nodeid"]: first_sample(r["windows"][0], machine) for r in base["records"]}
        h = {r["nodeid"]: first_sample(r["windows"][0], machine) for r in head["records"]}
        return [h[n] > b[n] * (1 + allowed) for n in b if n in h]
    if mode == "single-sample":  # the gate's own rule on each side's first repeat only
        base, head = first_repeat_only(base), first_repeat_only(head)
        return [r.deltas["energy"].status == "regression" for r in compare(base, head).records if r.base and r.head]
    result = compare(base, head)
    if mode == "gate":
        return [r.status == "regression" for r in result.records if r.base and r.head]
    return [r.deltas[mode].status == "regression" for r in result.records if mode in r.deltas]


def first_repeat_only(run: dict) -> dict:
    """The run as if every window had been measured once: its first repeat."""
    run = copy.deepcopy(run)
    for record in run["records"]:
        for w in record["windows"]:
            if w.get("samples"):
                scale = w["emissions_kg"] / w["energy_kwh"] if w["energy_kwh"] else 0.0
                w["energy_kwh"], w["samples"] = w["samples"][0], []
                w["emissions_kg"] = w["energy_kwh"] * scale
        record["energy_kwh"] = sum(w["energy_kwh"] for w in record["windows"])
        record["emissions_kg"] = sum(w["emissions_kg"] for w in record["windows"])
    return run


def duet_flags(pairs: list[tuple[dict, dict]], tolerance: str, rule: str = "paired") -> tuple[int, int]:
    """How many tests a duet rule flagged, of how many compared, over (base, head) runs.

    paired: the gate's rule (judge/duet.py); lowest: the lowest head repeat against the
    lowest base repeat of the same duet, by the tolerance alone (for comparison)."""
    from pytest_cegi.core.run import Run
    from pytest_cegi.core.units import parse_tolerance
    from pytest_cegi.judge.duet import compare_duet, paired_totals

    if rule == "paired":
        hits = [
            r.status == "regression"
            for b, h in pairs
            for r in compare_duet(Run.from_dict(b), Run.from_dict(h), tolerance)
            if r.status != "not compared"
        ]
        return sum(hits), len(hits)
    limit = 1 + parse_tolerance(tolerance).value
    hits = []
    for b, h in pairs:
        heads = {s.nodeid: s.record for s in Run.from_dict(h).records}
        for saved in Run.from_dict(b).records:
            totals, _ = paired_totals(saved.record, heads[saved.nodeid])
            if totals:
                hits.append(min(t[1] for t in totals) > limit * min(t[0] for t in totals))
    return sum(hits), len(hits)


def rates(base_runs: list, head_runs: list, mode: str, same: bool) -> tuple[int, int]:
    pairs = itertools.permutations(base_runs, 2) if same else itertools.product(base_runs, head_runs)
    hits = [f for b, h in pairs for f in flagged(b, h, mode)]
    return sum(hits), len(hits)


@contextlib.contextmanager
def hog_beside(enabled: bool) -> Iterator[str]:
    """A process spinning on one core while the sessions run; yields how to describe it."""
    stop = multiprocessing.Event()
    hogger = multiprocessing.Process(target=hog, args=(stop,), daemon=True) if enabled else None
    if hogger:
        hogger.start()
    try:
        yield "a CPU hog on one core" if hogger else "no hog"
    finally:
        stop.set()
        if hogger:
            hogger.join(timeout=5)


def schedule(args: argparse.Namespace) -> list[float]:
    """The regression level of each session (or duet) in turn, conditions interleaved so
    slow drifts of the machine hit all of them alike."""
    levels = [0.0] * args.runs + [lv for lv in args.levels for _ in range(args.head_runs)]
    order = sorted(range(len(levels)), key=lambda i: (i % max(args.runs, 1), i))
    return [levels[i] for i in order]


def collect(args: argparse.Namespace) -> tuple[dict[float, list], str]:
    """Run the sessions; {regression level: [run dict]} and a line describing them."""
    work = Path(tempfile.mkdtemp(prefix="cegi-gate-power-"))
    project = write_project(work, args)
    runs: dict[float, list] = {0.0: [], **{level: [] for level in args.levels}}
    seconds = []
    levels = schedule(args)
    with hog_beside(not args.no_hog) as hog_text:
        for n, extra in enumerate(levels):
            out = work / f"run-{n}-{extra}.json"
            seconds.append(session(project, out, extra, args.repeat))
            runs[extra].append(json.loads(out.read_text()))
            print(f"  session {n + 1}/{len(levels)} (+{extra:.0%}) {seconds[-1]:.1f} s", flush=True)
    median = sorted(seconds)[len(seconds) // 2]
    described = (
        f"{args.tests} tests per session, --cegi-repeat {args.repeat}, {hog_text}; "
        f"median session {median:.0f} s; run files: {work}"
    )
    return runs, described


def collect_duets(args: argparse.Namespace) -> tuple[dict[float, list], str]:
    """Run duets (base unchanged beside head at each level); {level: [(base, head)]}."""
    work = Path(tempfile.mkdtemp(prefix="cegi-gate-power-duet-"))
    project = write_project(work, args)
    duets: dict[float, list] = {0.0: [], **{level: [] for level in args.levels}}
    seconds = []
    levels = schedule(args)
    pin = "swap" if args.swap else not args.no_pin
    with hog_beside(not args.no_hog) as hog_text:
        for n, extra in enumerate(levels):
            base, head, took = duet(project, work, n, extra, args.repeat, pin=pin, mode=args.duet_mode)
            duets[extra].append((base, head))
            seconds.append(took)
            print(f"  duet {n + 1}/{len(levels)} (+{extra:.0%}) {took:.1f} s", flush=True)
    pinned = "each side pinned to its own core" if not args.no_pin and args.duet_mode == "together" else "unpinned"
    if args.swap and args.duet_mode == "together":
        pinned = "the sides swapping cores at every repeat"
    median = sorted(seconds)[len(seconds) // 2]
    described = (
        f"{args.duet_mode} duets of {args.tests} tests, --cegi-repeat {args.repeat}, "
        f"{args.threads} torch thread(s) a side, {pinned}, {hog_text} beside; median duet {median:.0f} s; "
        f"run files: {work}"
    )
    return duets, described


def load_duets(folder: Path) -> dict[float, list]:
    duets: dict[float, list] = {}
    for base_path in sorted(folder.glob("duet-*-base-*.json")):
        n = base_path.name.split("-")[1]
        (head_path,) = folder.glob(f"duet-{n}-head-*.json")
        level = float(head_path.stem.rsplit("-", 1)[1])
        duets.setdefault(level, []).append((json.loads(base_path.read_text()), json.loads(head_path.read_text())))
    return duets


def report_duets(duets: dict[float, list], described: str, tolerances: list[str]) -> None:
    levels = sorted(lv for lv in duets if lv and duets[lv])
    unchanged = duets.get(0.0, [])
    print(
        f"\nduet gate power: {described}; {len(unchanged)} unchanged duets, "
        + ", ".join(f"{len(duets[lv])} at +{lv:.0%}" for lv in levels)
    )
    bases = [b for b, _ in unchanged]
    header = (
        "| rule | false alarms (unchanged) | "
        + " | ".join(
            f"caught at +{injected([b for b, _ in duets[lv]], [h for _, h in duets[lv]]):.0%}" for lv in levels
        )
        + " |"
    )
    print(header)
    print("|---" * (2 + len(levels)) + "|")
    for rule in ("paired", "lowest"):
        for tolerance in tolerances:
            fa, n = duet_flags(unchanged, tolerance, rule)
            cells = [f"{fa}/{n} ({fa / n:.1%})" if n else "-"]
            for lv in levels:
                hit, m = duet_flags(duets[lv], tolerance, rule)
                cells.append(f"{hit}/{m} ({hit / m:.0%})" if m else "-")
            name = "paired ratios (the gate's rule)" if rule == "paired" else "lowest vs lowest"
            print(f"| duet, {name}, {tolerance} | " + " | ".join(cells) + " |")
    # The same sessions compared the usual way: base sides of different duets (sessions
    # at different times) by the energy rule, and each duet's head against the base
    # sides of the other duets, for detection.
    for mode in ("energy", "single-sample"):
        fa, n = rates(bases, [], mode, same=True)
        cells = [f"{fa}/{n} ({fa / n:.1%})" if n else "-"]
        for lv in levels:
            hit, m = rates(bases, [h for _, h in duets[lv]], mode, same=False)
            cells.append(f"{hit}/{m} ({hit / m:.0%})" if m else "-")
        print(f"| {mode}, across sessions | " + " | ".join(cells) + " |")
    print(one_sample_spread(bases))


def one_sample_spread(runs: list) -> str:
    """How far one unchanged sample strays from another: the ratio of first repeats of the
    same test in two sessions, larger over smaller, over every ordered pair of sessions
    (the spread the single-sample tolerance must stay above)."""
    ratios = []
    for a, b in itertools.combinations(runs, 2):
        fa = {r["nodeid"]: first_sample(r["windows"][0], False) for r in a["records"]}
        for r in b["records"]:
            x, y = fa.get(r["nodeid"]), first_sample(r["windows"][0], False)
            if x and y:
                ratios.append(max(x / y, y / x))
    if not ratios:
        return "one-sample spread: no pairs"
    ratios.sort()
    q = lambda p: ratios[min(len(ratios) - 1, int(p * len(ratios)))]  # noqa: E731
    return (
        f"one-sample spread between unchanged sessions (first repeats, larger/smaller, {len(ratios)} pairs): "
        f"median {q(0.5):.2f}x, 95th percentile {q(0.95):.2f}x, 99th {q(0.99):.2f}x, largest {ratios[-1]:.2f}x"
    )


def write_project(work: Path, args: argparse.Namespace) -> Path:
    project = work / "project"
    project.mkdir()
    (project / "test_gate_power.py").write_text(
        TEST_FILE.format(
            model=str(ROOT / "benchmarks/models/summarize-tiny"),
            data=str(ROOT / "benchmarks/data/summarize/test.jsonl"),
            tests=args.tests,
            calls=args.calls,
            threads=args.threads,
        )
    )
    return project


def pooled_rates(base_runs: list, head_runs: list, k: int, tolerance: str, same: bool) -> tuple[int, int]:
    """The energy rule at `tolerance` on pools of k sessions a side."""
    from pytest_cegi.judge.comparison import compare
    from pytest_cegi.judge.pooling import pool_runs

    def pool(runs: list, picks: tuple[int, ...]) -> dict:
        return pool_runs([(f"session {i}", runs[i]) for i in picks])

    if same:  # disjoint pools of unchanged sessions, each split both ways round
        pairs = [
            (pool(base_runs, split), pool(base_runs, tuple(i for i in combo if i not in split)))
            for combo in itertools.combinations(range(len(base_runs)), 2 * k)
            for split in itertools.combinations(combo, k)
        ]
    else:
        pairs = [
            (pool(base_runs, b), pool(head_runs, h))
            for b in itertools.combinations(range(len(base_runs)), k)
            for h in itertools.combinations(range(len(head_runs)), k)
        ]
    rules = {"energy": tolerance, "emissions": tolerance, "cegi": tolerance}
    hits = [r.deltas["energy"].status == "regression" for b, h in pairs for r in compare(b, h, rules).records]
    return sum(hits), len(hits)


def injected(base_runs: list, head_runs: list) -> float:
    """The extra work a level injected: the median head/base ratio of counted FLOPs - 1."""
    flops = [
        h["windows"][0]["flops"] / b["windows"][0]["flops"]
        for base in base_runs
        for head in head_runs
        for b, h in zip(base["records"], head["records"], strict=False)
        if b["windows"][0].get("flops") and h["windows"][0].get("flops")
    ]
    return sorted(flops)[len(flops) // 2] - 1 if flops else float("nan")


def load(folder: Path) -> dict[float, list]:
    runs: dict[float, list] = {0.0: [], **{level: [] for level in LEVELS}}
    for path in sorted(folder.glob("run-*.json")):
        runs.setdefault(float(path.stem.rsplit("-", 1)[1]), []).append(json.loads(path.read_text()))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="baseline (unchanged) sessions")
    parser.add_argument("--head-runs", type=int, default=3, help="sessions per regression level")
    parser.add_argument("--tests", type=int, default=12, help="tests per session")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--calls",
        type=int,
        default=10,
        help="generate() calls per window (10: +10%% is one call, +25%% rounds to 2; 20 makes every level exact)",
    )
    parser.add_argument(
        "--levels",
        type=lambda text: tuple(float(x) for x in text.split(",")),
        default=LEVELS,
        help="regression levels to inject, comma-separated (default: 0.1,0.25,0.5,1.0)",
    )
    parser.add_argument("--no-hog", action="store_true", help="measure without the CPU hog")
    parser.add_argument("--pool", type=int, default=0, help="also judge pools of K sessions a side")
    parser.add_argument("--from", dest="folder", type=Path, help="re-evaluate the run files saved in FOLDER")
    parser.add_argument("--duet", action="store_true", help="run base and head side by side, repeats in step")
    parser.add_argument("--no-pin", action="store_true", help="duet: do not pin each side to its own core")
    parser.add_argument("--duet-mode", choices=("together", "alternate"), default="together")
    parser.add_argument("--swap", action="store_true", help="duet, together: the sides swap cores every repeat")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per measured process (default 1)")
    parser.add_argument("--duet-tolerances", default="5%,10%,15%", help="duet: tolerances to report, comma-separated")
    args = parser.parse_args()

    if args.duet_mode == "alternate" and (args.swap or args.no_pin):
        parser.error("--swap and --no-pin apply to --duet-mode together (taking turns, sides are never pinned)")
    if not args.duet and (args.swap or args.no_pin or args.duet_mode != "together"):
        parser.error("--swap, --no-pin and --duet-mode apply to --duet")
    if args.duet:
        if args.folder:
            duets, described = load_duets(args.folder), f"duets from {args.folder}"
        else:
            duets, described = collect_duets(args)
        report_duets(duets, described, args.duet_tolerances.split(","))
        return
    if args.folder:
        runs, described = load(args.folder), f"runs from {args.folder}"
    else:
        runs, described = collect(args)
    levels = sorted(lv for lv in runs if lv and runs[lv])
    base = runs[0.0]
    print(
        f"\ngate power: {described}; default tolerances; {len(base)} unchanged sessions, "
        + ", ".join(f"{len(runs[lv])} at +{lv:.0%}" for lv in levels)
    )
    # The level asks for round(calls x level) extra calls: with --calls 10, "+25%" is 2
    # calls, +20 %. Head the columns with the work actually injected, read off the counts.
    header = (
        "| mode | false alarms (unchanged) | "
        + " | ".join(f"caught at +{injected(base, runs[lv]):.0%}" for lv in levels)
        + " |"
    )
    print(header)
    print("|---" * (2 + len(levels)) + "|")
    for mode in MODES:
        fa, n = rates(base, [], mode, same=True)
        cells = [f"{fa}/{n} ({fa / n:.1%})" if n else "-"]
        for lv in levels:
            hit, m = rates(base, runs[lv], mode, same=False)
            cells.append(f"{hit}/{m} ({hit / m:.0%})" if m else "-")
        print(f"| {mode} | " + " | ".join(cells) + " |")
    print(one_sample_spread(base))
    if args.pool:
        print(
            f"\nenergy rule on pools of {args.pool} sessions a side (what ab_energy.py --rounds {args.pool} compares)"
        )
        print(header.replace("| mode |", "| tolerance |"))
        print("|---" * (2 + len(levels)) + "|")
        for tolerance in ("10%", "15%", "25%"):
            fa, n = pooled_rates(base, [], args.pool, tolerance, same=True)
            cells = [f"{fa}/{n} ({fa / n:.1%})" if n else "-"]
            for lv in levels:
                hit, m = pooled_rates(base, runs[lv], args.pool, tolerance, same=False)
                cells.append(f"{hit}/{m} ({hit / m:.0%})" if m else "-")
            print(f"| {tolerance} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
