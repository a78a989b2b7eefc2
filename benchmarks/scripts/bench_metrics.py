"""Throughput of each built-in scorer (examples per second) on synthetic examples.

Each metric scores N generated prediction/reference pairs (1,000 by default) once as a
warm-up (imports, caches) and then `--repeats` times; the best run is reported.
Nothing is downloaded; execution_accuracy runs against a temporary SQLite file.

    python benchmarks/scripts/bench_metrics.py [--n 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
import warnings
from pathlib import Path

from pytest_cegi import metrics

WORDS = [
    "a",
    "the",
    "man",
    "woman",
    "dog",
    "cat",
    "child",
    "red",
    "blue",
    "green",
    "big",
    "small",
    "runs",
    "sits",
    "walks",
    "plays",
    "with",
    "on",
    "in",
    "under",
    "near",
    "ball",
    "park",
    "street",
    "grass",
    "house",
    "car",
    "tree",
    "quickly",
    "slowly",
]


def sentence(rng: random.Random, low: int = 8, high: int = 25) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    # Two sentences, so rougeLsum has something to split.
    cut = len(words) // 2
    return " ".join(words[:cut]).capitalize() + ". " + " ".join(words[cut:]).capitalize() + "."


def perturb(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(max(1, len(words) // 4)):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


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


def sql_pairs(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    golds, preds = [], []
    for _ in range(n):
        age = rng.randint(18, 70)
        gold = rng.choice(
            [
                f"SELECT name FROM singer WHERE age > {age}",
                f"SELECT country, count(*) FROM singer WHERE age < {age} GROUP BY country",
                f"SELECT name, age FROM singer WHERE age = {age} ORDER BY name",
            ]
        )
        golds.append(gold)
        # About half right, some wrong, a few broken.
        roll = rng.random()
        preds.append(
            gold
            if roll < 0.5
            else gold.replace(str(age), str(age + 1))
            if roll < 0.9
            else gold.replace("singer", "singers")
        )
    return preds, golds


def workloads(n: int, rng: random.Random, db: Path) -> dict:
    refs = [sentence(rng) for _ in range(n)]
    preds = [perturb(rng, r) for r in refs]
    multi = [[r, perturb(rng, r), perturb(rng, r)] for r in refs]
    answers = [rng.choice(["yes", "no", "2", "3", "red", "dog"]) for _ in range(n)]
    vqa_refs = [[rng.choice([a, "no", "two"]) for _ in range(10)] for a in answers]
    labels = [rng.randint(0, 3) for _ in range(n)]
    sql_preds, sql_golds = sql_pairs(rng, n)
    return {
        "rouge": (preds, refs, {}),
        "bleu": (preds, refs, {}),
        "chrf": (preds, refs, {}),
        "exact_match": (answers, [rng.choice([a, a.upper() + ".", "no"]) for a in answers], {}),
        "accuracy": ([rng.randint(0, 3) for _ in labels], labels, {}),
        "vqa_accuracy": (answers, vqa_refs, {}),
        "cider": (preds, multi, {}),
        "execution_accuracy": (sql_preds, sql_golds, {"db": db}),
    }


def best_time(name: str, preds: list, refs: list, kw: dict, repeats: int) -> tuple[float, float]:
    metrics.compute(name, preds, refs, **kw)  # warm-up: imports, tokeniser caches
    times, value = [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        value = metrics.compute(name, preds, refs, **kw).value
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="examples per metric")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", metrics.MetricWarning)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        make_db(db, rng)
        print(f"{args.n} examples per metric, best of {args.repeats} runs")
        print(f"{'metric':<20} {'examples/s':>12} {'seconds':>9} {'score':>8}")
        for name, (preds, refs, kw) in workloads(args.n, rng, db).items():
            seconds, value = best_time(name, preds, refs, kw, args.repeats)
            print(f"{name:<20} {args.n / seconds:>12,.0f} {seconds:>9.4f} {value:>8.4f}")


if __name__ == "__main__":
    main()
