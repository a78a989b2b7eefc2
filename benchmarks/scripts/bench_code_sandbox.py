"""Samples per second through the code sandbox, on ordinary HumanEval-like problems.

Every sample starts a fresh sandboxed interpreter (namespaces, a read-only root,
Landlock, seccomp, rlimits), so the figure is dominated by process start-up, not by
the sample. Reported: serial samples/s through `CodeSandbox.run`, pass_at_k end to end
with 1 and 2 workers, and the cost of the sandbox against the same samples run with
no isolation (the same harness in a plain ``python -I -S``). Each figure names how many
samples it rests on; the paths are interleaved over `--repeats` rounds, and the best
and the median round are shown (the machine may be shared).

    python benchmarks/scripts/bench_code_sandbox.py [--n 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

from pytest_cegi import metrics
from pytest_cegi.metrics.code_sandbox import CodeSandbox, SandboxLimits, _run, isolation_problem

# (sample, test) pairs of the kind HumanEval asks for: small functions, a few asserts.
PROBLEMS = [
    ("def add(a, b):\n    return a + b", "assert add(2, 3) == 5\nassert add(-1, 1) == 0"),
    ("def is_palindrome(s):\n    return s == s[::-1]", "assert is_palindrome('abba')\nassert not is_palindrome('ab')"),
    (
        "import math\ndef primes(n):\n"
        "    return [p for p in range(2, n) if all(p % d for d in range(2, math.isqrt(p) + 1))]",
        "assert primes(20) == [2, 3, 5, 7, 11, 13, 17, 19]",
    ),
    (
        "from collections import Counter\ndef top(words):\n    return Counter(words).most_common(1)[0][0]",
        "assert top(['a', 'b', 'a']) == 'a'",
    ),
    (
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        "assert fib(10) == 55\nassert fib(0) == 0",
    ),
    ("def add(a, b):\n    return a - b", "assert add(2, 3) == 5"),  # a wrong sample
]


def jobs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [rng.choice(PROBLEMS) for _ in range(n)]


def rate(run, count: int) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def paths(pairs: list) -> dict:
    """Label -> a callable that runs every pair once through that path."""
    box = CodeSandbox(timeout_s=5)
    limits = SandboxLimits(timeout_s=5)
    preds, refs = [[code] for code, _ in pairs], [test for _, test in pairs]
    return {
        "CodeSandbox.run, serial": lambda: [box.run(code, test) for code, test in pairs],
        "pass_at_k, workers=1": lambda: metrics.compute("pass_at_k", preds, refs, workers=1),
        "pass_at_k, workers=2": lambda: metrics.compute("pass_at_k", preds, refs, workers=2),
        # The same harness without namespaces: what the isolation itself costs.
        "no sandbox (python -I -S), serial": lambda: [
            _run(code, test, limits, sys.executable, isolate=False) for code, test in pairs
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="samples per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    problem = isolation_problem()
    if problem:
        raise SystemExit(f"the sandbox cannot run here: {problem}")
    pairs = jobs(args.n)
    box = CodeSandbox(timeout_s=5)
    box.run(*pairs[0])  # warm the page cache
    probe = box.run(*PROBLEMS[0])
    print(
        f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}; sandbox: {box.describe()}; "
        f"landlock ABI {probe.box.get('landlock_abi')}, PID cap {probe.box.get('pid_cap')}"
    )
    runs = paths(pairs)
    rates: dict = {label: [] for label in runs}
    for _ in range(args.repeats):  # interleaved, so a burst of load hits every path alike
        for label, run in runs.items():
            rates[label].append(rate(run, len(pairs)))
    print(f"{'path':36} {'best/s':>8} {'median/s':>9}  samples")
    for label, values in rates.items():
        print(f"{label:36} {max(values):8.1f} {statistics.median(values):9.1f}  {args.n} x {args.repeats} runs")


if __name__ == "__main__":
    main()
