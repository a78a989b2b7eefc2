"""Same-runner energy A/B: measure base and head on this machine, alternated, and gate.

A committed baseline recorded elsewhere can gate the hardware-independent cost
(FLOPs, tokens) but not energy: another machine draws other watts. This script
measures both sides here, in one job:

1. checks the base ref out into a temporary git worktree;
2. runs the benchmark tests in base and head alternately (ABBA order over
   `--rounds` rounds, so a drift of the machine's load hits both sides alike),
   each with `--cegi-repeat N`, sharing one adapter cache (an adapter trained for
   one side is replayed for the other when training did not change);
3. pools each side's runs (`pytest-cegi pool`) and compares them
   (`pytest-cegi compare --fail-on energy,emissions`), writing Markdown. The energy and
   emissions tolerances are given on the command line (`--tolerance`, default 10 %), so
   they apply even where the project's budgets lift the energy rules against its
   committed baseline (as this project's own do).

Exit status: 0 no energy regression, 1 regression, 2 a usage or run error.
The installed pytest-cegi measures both sides (the same instrument for both).

    python benchmarks/scripts/ab_energy.py --base-ref origin/main --out cegi-out/ab \\
        [--rounds 2] [--repeat 5] [-- benchmarks/ -k summarize]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def run_side(side: str, checkout: Path, out: Path, tag: str, repeat: int, cache: Path, tests: list[str]) -> Path:
    """One benchmark session in `checkout`; its outputs go under `out`."""
    save = out / f"{side}-{tag}.json"
    env = dict(os.environ, CEGI_OUT=str(out / f"{side}-{tag}"))
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        "-q",
        "-p",
        "no:cacheprovider",
        f"--cegi-repeat={repeat}",
        f"--cegi-save={save}",
        f"--cegi-cache-dir={cache}",
    ]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    print(f"  {side} round {tag}: exit {done.returncode} in {time.perf_counter() - started:.0f} s", flush=True)
    # Test failures (1) belong to the budget gate, not this one; anything else is broken.
    if done.returncode not in (0, 1) or not save.is_file():
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"ab_energy: the {side} session failed (exit {done.returncode})")
    return save


def cli(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "pytest_cegi.cli", *args], cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-ref", required=True, help="git ref of the base (e.g. origin/main or a SHA)")
    parser.add_argument("--out", default="cegi-out/ab", help="folder for runs and the Markdown comparison")
    parser.add_argument("--rounds", type=int, default=2, help="base/head pairs, in ABBA order (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="--cegi-repeat for every session (default 5)")
    parser.add_argument(
        "--tolerance", default="10%", help="energy and emissions tolerance of the comparison (default 10%%)"
    )
    parser.add_argument("tests", nargs="*", default=["benchmarks/"], help="pytest arguments after --")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.repeat < 3:
        parser.error("need --rounds >= 1 and --repeat >= 3 (fewer repeats cannot reach significance)")

    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="cegi-ab-"))
    base_dir, cache = scratch / "base", scratch / "cache"
    try:
        git("worktree", "add", "--detach", str(base_dir), args.base_ref)
    except subprocess.CalledProcessError as exc:
        print(f"ab_energy: cannot check out {args.base_ref!r}: {exc.stderr.strip()}", file=sys.stderr)
        return 2
    try:
        sides = {"base": [], "head": []}
        for r in range(args.rounds):
            order = ("base", "head") if r % 2 == 0 else ("head", "base")
            for side in order:
                checkout = base_dir if side == "base" else ROOT
                sides[side].append(run_side(side, checkout, out, str(r + 1), args.repeat, cache, args.tests))
        for side, files in sides.items():
            if cli("pool", *map(str, files), "-o", str(out / f"{side}.json")) != 0:
                return 2
        # Explicit tolerances win over the runs' own (a budget entry may lift energy rules).
        tolerances = [f"--max-regression={q}={args.tolerance}" for q in ("energy", "emissions")]
        code = cli(
            "compare",
            str(out / "base.json"),
            str(out / "head.json"),
            *tolerances,
            "--fail-on",
            "energy,emissions",
            "--format",
            "md",
            "-o",
            str(out / "ab.md"),
        )
        cli("compare", str(out / "base.json"), str(out / "head.json"), *tolerances, "--fail-on", "none")
        verdict = {0: "no energy regression", 1: "ENERGY REGRESSION"}.get(code, f"error (exit {code})")
        print(f"ab_energy: {verdict}; {args.rounds} rounds x {args.repeat} repeats per side; report {out / 'ab.md'}")
        return code
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_dir)], cwd=ROOT, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
