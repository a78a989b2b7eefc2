"""Start-up cost of pytest-cegi when installed but unused (issue 20).

Writes a suite of trivial tests (no cegi marker, no cegi fixture) to a temporary
directory and runs `python -m pytest -q -p no:randomly` on it as a fresh process,
with the plugin loaded and with `-p no:cegi`, alternating which goes first in each
pair so that drifts in machine load hit both alike. Prints the lowest wall time of
each, their ratio, and the median of the per-pair ratios; the same for the child's
CPU time (user + system), which a busy machine disturbs less than wall time.
Target: at most 3 % slower (wall time) with the plugin loaded.

Bytecode is cached (under the temporary directory, via PYTHONPYCACHEPREFIX) even
where PYTHONDONTWRITEBYTECODE is set, as it is for an installed plugin; with
--no-bytecode-cache every run compiles the plugin's (and pytest's) sources again.

    python benchmarks/scripts/bench_startup.py [--runs 12] [--tests 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 10


def write_suite(root: Path, tests: int) -> None:
    per_file = -(-tests // FILES)
    for f in range(FILES):
        count = min(per_file, tests - f * per_file)
        if count <= 0:
            break
        body = "".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n\n\n" for i in range(count))
        (root / f"test_trivial_{f}.py").write_text(body)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(root: Path, extra: list[str], tests: int, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one pytest process."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *extra]
    cpu = cpu_of_children()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    cpu = cpu_of_children() - cpu
    if done.returncode != 0 or f"{tests} passed" not in done.stdout:
        sys.exit(f"pytest failed ({' '.join(command)}):\n{done.stdout}\n{done.stderr}")
    return elapsed, cpu


def show(what: str, with_plugin: list[float], without: list[float]) -> None:
    low_with, low_without = min(with_plugin), min(without)
    ratio = statistics.median(w / o for w, o in zip(with_plugin, without, strict=True))
    print(f"{what}")
    print(
        f"  with pytest-cegi:  lowest {low_with * 1e3:7.1f} ms, median {statistics.median(with_plugin) * 1e3:7.1f} ms"
    )
    print(f"  -p no:cegi:        lowest {low_without * 1e3:7.1f} ms, median {statistics.median(without) * 1e3:7.1f} ms")
    print(f"  ratio of lowest:   {low_with / low_without:.3f} ({(low_with / low_without - 1) * 100:+.1f} %)")
    print(f"  median pair ratio: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12, help="paired runs (one with, one without the plugin)")
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--no-bytecode-cache", action="store_true", help="keep the environment's bytecode setting")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cegi-startup-") as tmp:
        root = Path(tmp) / "suite"
        root.mkdir()
        write_suite(root, args.tests)
        env = dict(os.environ)
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        # One untimed run of each, to warm the file cache and write the bytecode.
        timed_run(root, [], args.tests, env)
        timed_run(root, ["-p", "no:cegi"], args.tests, env)
        with_plugin, without = [], []
        for pair in range(args.runs):
            if pair % 2:
                without.append(timed_run(root, ["-p", "no:cegi"], args.tests, env))
                with_plugin.append(timed_run(root, [], args.tests, env))
            else:
                with_plugin.append(timed_run(root, [], args.tests, env))
                without.append(timed_run(root, ["-p", "no:cegi"], args.tests, env))

    cache = "environment's setting" if args.no_bytecode_cache else "cached"
    print(f"{args.tests} trivial tests, {args.runs} paired runs (alternating order), bytecode {cache}")
    print("target: wall time +3 % at most")
    show("wall time", [w for w, _ in with_plugin], [w for w, _ in without])
    show("CPU time (user + system)", [c for _, c in with_plugin], [c for _, c in without])


if __name__ == "__main__":
    main()
