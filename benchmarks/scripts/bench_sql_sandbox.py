"""SQL sandbox: worst case on hostile queries, and throughput on ordinary ones.

hostile    each query of a hostile corpus (quadratic built-ins, huge printf widths,
           memory bombs, endless CTEs, cross joins) runs `--runs` times through
           `run_query(timeout_s=--timeout)`, each run in a fresh Python process so
           that process's RUSAGE_CHILDREN peak RSS is the sandbox child's alone;
           the worst wall time (sandbox start-up included) and peak RSS over the
           runs are printed with the status
ordinary   generated SELECTs against a 500-row database: queries/s through one
           open `SqlSandbox`, one `execute()` at a time and as one `execute_many()`
           batch (best of `--repeats` passes over `--n` queries), and examples/s of
           `execution_accuracy` end to end (2 queries per example, a fresh sandbox
           per call, as the metric runs)

  python benchmarks/scripts/bench_sql_sandbox.py [--only hostile|ordinary] [--n 1000]
      [--repeats 3] [--runs 3] [--timeout 2]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_cegi import metrics
from pytest_cegi.metrics.sql_sandbox import SqlSandbox, run_query

HOSTILE = {
    "instr_quadratic": "SELECT instr(printf('%.*c',9000000,'a'), printf('%.*c',3000000,'a')||'b')",
    "printf_2e9": "SELECT printf('%.*c', 2000000000, 'x')",
    "cte_10k_rows_of_10MB": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 10000) "
        "SELECT printf('%.*c',9999999,'x') FROM c"
    ),
    "wide_row_of_10MB_values": (
        "SELECT p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,"
        "p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p,p "
        "FROM (SELECT printf('%.*c',9999999,'x') AS p)"
    ),
    "zeroblob_1e9": "SELECT zeroblob(1000000000)",
    "endless_cte": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "cross_join": "SELECT count(*) FROM singer a, singer b, singer c, singer d",
    "sort_endless_cte": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c ORDER BY random() LIMIT 1"
    ),
}


def make_db(path: Path, rng: random.Random) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER)")
    countries = ["France", "Spain", "Italy", "Japan", "Peru"]
    conn.executemany(
        "INSERT INTO singer VALUES (?, ?, ?, ?)",
        [(i, f"s{i}", rng.choice(countries), rng.randint(18, 70)) for i in range(500)],
    )
    conn.commit()
    conn.close()


def ordinary_queries(rng: random.Random, n: int) -> list[str]:
    templates = [
        "SELECT name FROM singer WHERE age > {age}",
        "SELECT country, count(*) FROM singer WHERE age < {age} GROUP BY country",
        "SELECT name, age FROM singer WHERE age = {age} ORDER BY name",
        "SELECT count(*) FROM singer WHERE country = 'Spain' AND age > {age}",
    ]
    return [rng.choice(templates).format(age=rng.randint(18, 70)) for _ in range(n)]


def sandbox_rate(db: Path, queries: list[str], repeats: int, batched: bool) -> float | None:
    """Best queries/s over `repeats` passes through one open sandbox (started before timing)."""
    best = float("inf")
    with SqlSandbox(db, timeout_s=5) as box:
        if batched and not hasattr(box, "execute_many"):
            return None  # an older sandbox, measured for comparison
        box.execute("SELECT 1")  # warm-up: worker start, page cache
        for _ in range(repeats):
            start = time.perf_counter()
            outcomes = box.execute_many(queries) if batched else (box.execute(sql) for sql in queries)
            assert all(outcome.ok for outcome in outcomes)
            best = min(best, time.perf_counter() - start)
    return len(queries) / best


def metric_rate(db: Path, queries: list[str], repeats: int) -> float:
    """Best examples/s of execution_accuracy over `repeats` calls (each call opens its own sandbox)."""
    preds = [q.replace("> ", ">= ") for q in queries]  # some right, some wrong
    metrics.compute("execution_accuracy", preds[:10], queries[:10], db=db)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        metrics.compute("execution_accuracy", preds, queries, db=db)
        best = min(best, time.perf_counter() - start)
    return len(queries) / best


def one_hostile(db: str, name: str, timeout_s: float) -> None:
    """Child mode: run one hostile query, print wall time, status and the sandbox's peak RSS."""
    start = time.perf_counter()
    outcome = run_query(db, HOSTILE[name], timeout_s=timeout_s)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall_s": wall, "status": outcome.status, "peak_mib": peak_kib / 1024}))


def hostile(db: Path, runs: int, timeout_s: float) -> None:
    print(f"hostile corpus: timeout_s={timeout_s:g}, {runs} runs per query, worst run shown")
    print(f"{'query':<26} {'worst wall s':>12} {'peak RSS MiB':>13}  status")
    worst_wall = worst_mem = 0.0
    for name in HOSTILE:
        results = []
        for _ in range(runs):
            proc = subprocess.run(
                [sys.executable, __file__, "--one", name, "--db", str(db), "--timeout", str(timeout_s)],
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        wall = max(r["wall_s"] for r in results)
        mem = max(r["peak_mib"] for r in results)
        statuses = "/".join(sorted({r["status"] for r in results}))
        worst_wall, worst_mem = max(worst_wall, wall), max(worst_mem, mem)
        print(f"{name:<26} {wall:>12.2f} {mem:>13.0f}  {statuses}")
    print(f"worst over {len(HOSTILE)} queries x {runs} runs: {worst_wall:.2f} s, {worst_mem:.0f} MiB")


def ordinary(db: Path, n: int, repeats: int) -> None:
    queries = ordinary_queries(random.Random(1), n)
    print(f"ordinary queries: {n} per pass, best of {repeats} passes")
    for label, batched in (("execute()", False), ("execute_many()", True)):
        rate = sandbox_rate(db, queries, repeats, batched)
        shown = f"{rate:>8,.0f} queries/s" if rate else "     n/a (no execute_many)"
        print(f"  SqlSandbox {label + ':':<16} {shown}")
    print(f"  execution_accuracy:         {metric_rate(db, queries, repeats):>8,.0f} examples/s (2 queries each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["hostile", "ordinary"])
    parser.add_argument("--n", type=int, default=1000, help="ordinary queries per pass")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the ordinary queries")
    parser.add_argument("--runs", type=int, default=3, help="runs of each hostile query")
    parser.add_argument("--timeout", type=float, default=2.0, help="timeout_s for hostile queries")
    parser.add_argument("--one", choices=sorted(HOSTILE), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_hostile(args.db, args.one, args.timeout)
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        make_db(db, random.Random(0))
        if args.only != "hostile":
            ordinary(db, args.n, args.repeats)
        if args.only != "ordinary":
            hostile(db, args.runs, args.timeout)


if __name__ == "__main__":
    main()
