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

With `--duet`, base and head run as one session a side, started together, their
repeats paced by a barrier (pytest_cegi/measure/duet.py): taking turns by default
(in ABBA order, repeat by repeat, seconds apart), or with `--duet-mode together` at the
same moment, each pinned to its own core. Each test is judged on its paired head/base
ratios with a bootstrap interval (pytest_cegi/judge/duet.py): a neighbour's burst or
drift hits both sides of a pair. The duet is advisory unless `--gate` is given: see
docs/ci-gate.md ("Duet") for the false-alarm and detection rates measured on this
project's runner, which decide that.

Exit status: 0 no energy regression (or advisory), 1 regression, 2 a usage or run error.
The installed pytest-cegi measures both sides (the same instrument for both).

    python benchmarks/scripts/ab_energy.py --base-ref origin/main --out cegi-out/ab \\
        [--rounds 2] [--repeat 5] [--duet [--gate] [--duet-mode alternate]] [-- benchmarks/ -k summarize]
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


def side_command(side: str, checkout: Path, out: Path, tag: str, repeat: int, cache: Path, tests: list[str]):
    """(command, env, saved run path) of one benchmark session in `checkout`."""
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
    return cmd, env, save


def run_side(side: str, checkout: Path, out: Path, tag: str, repeat: int, cache: Path, tests: list[str]) -> Path:
    """One benchmark session in `checkout`; its outputs go under `out`."""
    cmd, env, save = side_command(side, checkout, out, tag, repeat, cache, tests)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    print(f"  {side} round {tag}: exit {done.returncode} in {time.perf_counter() - started:.0f} s", flush=True)
    return checked(side, done.returncode, done.stdout + done.stderr, save)


def checked(side: str, code: int, output: str, save: Path) -> Path:
    # Test failures (1) belong to the budget gate, not this one; anything else is broken.
    if code not in (0, 1) or not save.is_file():
        sys.stderr.write(output[-8000:])
        raise SystemExit(f"ab_energy: the {side} session failed (exit {code})")
    return save


def run_duet(
    checkouts: dict[str, Path], out: Path, repeat: int, cache: Path, tests: list[str], mode: str = "together"
) -> dict[str, Path]:
    """Both sides at once, repeats in step (or taking turns: `mode="alternate"`, for one
    GPU), each pinned to its own core where there are two."""
    folder = out / "duet-steps"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    from pytest_cegi.measure.duet import pinnable_cores

    cores = pinnable_cores()
    procs, saves = {}, {}
    started = time.perf_counter()
    for i, side in enumerate(("base", "head")):
        cmd, env, saves[side] = side_command(side, checkouts[side], out, "duet", repeat, cache, tests)
        env.update(CEGI_DUET_DIR=str(folder), CEGI_DUET_ROLE=side, CEGI_DUET_MODE=mode)
        cpus = {cores[i]} if len(cores) >= 2 and mode == "together" else None  # taking turns: any core
        procs[side] = subprocess.Popen(
            cmd,
            cwd=checkouts[side],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=(lambda cpus=cpus: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    for side, proc in procs.items():
        output, _ = proc.communicate()
        checked(side, proc.returncode, output, saves[side])
    pinned = "each side on its own core" if len(cores) >= 2 and mode == "together" else "sides not pinned"
    print(f"  duet ({mode}, {pinned}): {time.perf_counter() - started:.0f} s", flush=True)
    return saves


def judge_duet(saves: dict[str, Path], out: Path, tolerance: str, gate: bool) -> int:
    from pytest_cegi.core.run import Run
    from pytest_cegi.core.run_file import atomic_write_text, load_run
    from pytest_cegi.judge.duet import compare_duet
    from pytest_cegi.report.duet import duet_markdown

    results = compare_duet(Run.from_dict(load_run(saves["base"])), Run.from_dict(load_run(saves["head"])), tolerance)
    why = (
        ""
        if gate
        else "Advisory: the duet's measured false-alarm and detection rates on a shared runner do not yet "
        "meet the gate's targets (docs/ci-gate.md, Duet); it reports and does not fail."
    )
    atomic_write_text(out / "ab.md", duet_markdown(results, tolerance, gate, why))
    for r in results:
        if r.status != "unchanged":
            print(f"  {r.status.upper():<12}{r.task} / {r.variant}: {r.reason}")
    flagged = sum(r.status == "regression" for r in results)
    print(f"ab_energy duet: {flagged} regression(s) in {len(results)} tests; report {out / 'ab.md'}")
    return 1 if flagged and gate else 0


def cli(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "pytest_cegi.cli", *args], cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-ref", required=True, help="git ref of the base (e.g. origin/main or a SHA)")
    parser.add_argument("--out", default="cegi-out/ab", help="folder for runs and the Markdown comparison")
    parser.add_argument("--rounds", type=int, default=None, help="base/head pairs, in ABBA order (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="--cegi-repeat for every session (default 5)")
    parser.add_argument(
        "--tolerance", default="10%", help="energy and emissions tolerance of the comparison (default 10%%)"
    )
    parser.add_argument("--duet", action="store_true", help="run base and head side by side, repeats in step")
    parser.add_argument("--gate", action="store_true", help="with --duet: exit 1 on a regression")
    parser.add_argument(
        "--duet-mode",
        choices=("together", "alternate"),
        default=None,
        help="with --duet: taking turns, repeat by repeat in ABBA order (default: measured better than together on "
        "a 2-vCPU runner, and the mode for one GPU, whose NVML counter is the whole device's), or together, "
        "each side on its own core (docs/ci-gate.md, Duet)",
    )
    parser.add_argument("tests", nargs="*", default=["benchmarks/"], help="pytest arguments after --")
    args = parser.parse_args(argv)
    if args.gate and not args.duet:
        parser.error("--gate applies to --duet (the alternated A/B is advisory)")
    if args.duet_mode is not None and not args.duet:
        parser.error("--duet-mode applies to --duet")
    if args.rounds is not None and args.duet:
        parser.error("--rounds applies to the alternated A/B; a duet runs one session a side")
    args.duet_mode = args.duet_mode or "alternate"
    args.rounds = 2 if args.rounds is None else args.rounds
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
        if args.duet:
            saves = run_duet({"base": base_dir, "head": ROOT}, out, args.repeat, cache, args.tests, args.duet_mode)
            return judge_duet(saves, out, args.tolerance, args.gate)
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
