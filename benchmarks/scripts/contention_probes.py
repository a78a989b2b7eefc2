"""Can a reference workload measured beside a test normalise away a busy machine?

Measured energy between two sessions varies 6-16 % per test on a shared 2-vCPU guest
(docs/ci-gate.md, "What the gate compares, and how well it works"), mostly from the
host: the same work's CPU time rises for stretches of seconds to minutes. The idea
tested here: run a fixed probe at each test's edges and divide the test's lowest
repeat by it (per test, "local"), or by the session's median probe ("session"), as a
machine-speed index. A probe that tracks the contention the work sees would cancel it;
the gate could then compare normalised energy.

Each session is a fresh process (as a pytest session is) that runs 12 "tests" of 5
repeats of a real workload (the summarize suite's tiny model generating 8 batches of
2 prompts, one torch thread), with six candidate probes (3 tries each, the fastest
kept) before and after each test, while a CPU hog spins on the other core. Every third
session makes 25 % more generate() calls (identical work, the injected regression).
It prints, per normalisation: the median CV of a test's lowest repeat across unchanged
sessions, and the one-sided false-alarm and detection rates of "lowest repeat beyond
tolerance" for every ordered pair of sessions.

    python benchmarks/scripts/contention_probes.py [--sessions 15] [--from DIR]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS, REPEATS, CALLS, EXTRA = 12, 5, 8, 0.25


def session(extra: float, out: str) -> None:
    """One session's measurements, written to `out` as JSON."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(1)
    from pytest_cegi import Variant
    from pytest_cegi.models.variants import prepare

    bench = ROOT / "benchmarks"
    lines = (bench / "data/summarize/test.jsonl").read_text(encoding="utf-8").splitlines()
    prompts = [json.loads(line)["prompt"] for line in lines]
    model = prepare(Variant("base", str(bench / "models/summarize-tiny")))
    other = prepare(Variant("base", str(bench / "models/code-wide")))
    small, square = torch.randn(64, 64), torch.randn(256, 256)
    block, big = os.urandom(1 << 20), bytearray(os.urandom(1 << 24))
    probes = {  # each a few milliseconds
        "torch-64": lambda: [torch.tanh(small @ small) for _ in range(60)],
        "torch-256": lambda: [square @ square for _ in range(6)],
        "sha256": lambda: [hashlib.sha256(block).digest() for _ in range(3)],
        "python-loop": lambda: sum(i * i for i in range(60000)),
        "memcpy-16MB": lambda: bytes(big),
        "other-model": lambda: other.generate(["def f(x):"], max_new_tokens=4),
    }

    def cpu(f) -> float:
        start = time.thread_time()
        f()
        return time.thread_time() - start

    def probe() -> dict[str, float]:
        return {name: min(cpu(f) for _ in range(3)) for name, f in probes.items()}

    tests = []
    for i in range(TESTS):
        batches = [[prompts[(i * 7 + 2 * c + j) % len(prompts)] for j in range(2)] for c in range(CALLS)]
        batches += batches[: round(len(batches) * extra)]

        def work(batches=batches) -> None:
            for batch in batches:
                model.generate(batch, max_new_tokens=16)

        if i == 0:  # warm up the model and the probes
            work()
            probe()
        before = probe()
        repeats = [cpu(work) for _ in range(REPEATS)]
        tests.append({"repeats": repeats, "before": before, "after": probe()})
    Path(out).write_text(json.dumps({"extra": extra, "tests": tests}))


def _hog() -> None:
    while True:
        sum(i * i for i in range(10**6))


def measure(sessions: int, folder: Path) -> None:
    hog = multiprocessing.Process(target=_hog, daemon=True)
    hog.start()
    try:
        for k in range(sessions):
            extra = EXTRA if k % 3 == 2 else 0.0
            out = folder / f"session-{k:02d}-{extra}.json"
            subprocess.run([sys.executable, __file__, "--session", str(extra), str(out)], check=True)
            print(f"session {k + 1}/{sessions} done", file=sys.stderr)
    finally:
        hog.terminate()


def analyse(folder: Path) -> None:
    runs = [json.loads(Path(f).read_text()) for f in sorted(glob.glob(str(folder / "session-*.json")))]
    base = [r for r in runs if r["extra"] == 0]
    head = [r for r in runs if r["extra"] > 0]
    probes = list(runs[0]["tests"][0]["before"])

    def lowest(run: dict, i: int) -> float:
        return min(run["tests"][i]["repeats"])

    def local(name: str):
        def f(run, i):
            t = run["tests"][i]
            return lowest(run, i) / min(t["before"][name], t["after"][name])

        return f

    def whole_session(name: str):
        def f(run, i):
            index = statistics.median(min(t["before"][name], t["after"][name]) for t in run["tests"])
            return lowest(run, i) / index

        return f

    ways = [("none (the lowest repeat)", lowest)]
    ways += [(f"{p}, local", local(p)) for p in probes] + [(f"{p}, session", whole_session(p)) for p in probes]
    print(f"{len(base)} unchanged sessions, {len(head)} with +{EXTRA:.0%} work; {TESTS} tests x {REPEATS} repeats")
    pairs, heads = len(base) * (len(base) - 1) * TESTS, len(base) * len(head) * TESTS
    print(f"false alarms: {pairs} comparisons; detection: {heads}")
    print(f"{'normalised by':30s} {'CV':>6s}" + "".join(f" | {t:.0%}: false alarm, caught" for t in (0.10, 0.15, 0.20)))
    for label, figure in ways:
        b = [[figure(r, i) for i in range(TESTS)] for r in base]
        h = [[figure(r, i) for i in range(TESTS)] for r in head]
        cv = statistics.median(
            statistics.stdev(s[i] for s in b) / statistics.fmean(s[i] for s in b) for i in range(TESTS)
        )
        row = f"{label:30s} {cv:6.1%}"
        for tol in (0.10, 0.15, 0.20):
            fa = [y[i] / x[i] - 1 > tol for x, y in itertools.permutations(b, 2) for i in range(TESTS)]
            det = [y[i] / x[i] - 1 > tol for x in b for y in h for i in range(TESTS)]
            row += f" | {sum(fa) / len(fa):17.1%}, {sum(det) / len(det):6.0%}"
        print(row)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--session":
        session(float(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=15)
    parser.add_argument("--from", dest="source", type=Path, help="analyse the sessions an earlier run saved")
    args = parser.parse_args()
    folder = args.source
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="cegi-probes-"))
        print(f"sessions saved in {folder}", file=sys.stderr)
        measure(args.sessions, folder)
    analyse(folder)


if __name__ == "__main__":
    main()
