"""Pretrain the benchmark suites' tiny base models from scratch and commit them.

    python benchmarks/models/build.py              # every task, both sizes
    python benchmarks/models/build.py sql --size tiny

Each task gets two Llama-style causal LMs trained by `pytest_cegi.tiny_models` on
the task's generic corpus (`benchmarks/data/<task>/pretrain.jsonl`, see
`benchmarks/data/generate.py`): the reference ``tiny`` (2 layers, 64 wide, ~0.16 M
parameters) and the "larger base" ``wide`` (2 layers, 128 wide, ~0.6 M). They are
a few MB, so they are committed under `benchmarks/models/<task>-<size>/` and the
benchmark run only loads them: pretraining is not part of any variant's measured
emissions (as in the CEGI paper, whose base models come pretrained).

Builds are deterministic (fixed seeds, one CPU thread); `build-info.json` records
the settings, final loss, parameter count and build time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
TASKS = ("summarize", "sql", "translate", "vqa")
# The larger base: as deep as "tiny" (two layers learn the copying these tasks need
# in a few hundred steps; tiny_models' 4-layer "small" did not in 800), twice as
# wide, twice the vocabulary: about 4x the parameters. Registered here so that
# pytest_cegi.tiny_models builds it like its own sizes.
WIDE = dict(hidden=128, ffn=512, layers=2, heads=4, vocab=1024)
# Pretraining settings per size: the larger model gets the same data and steps.
BUILD = {"tiny": dict(steps=600, batch_size=32, lr=3e-3, max_length=96, seed=0),
         "wide": dict(steps=600, batch_size=32, lr=3e-3, max_length=96, seed=0)}


def corpus(task: str) -> list[str]:
    with open(DATA / task / "pretrain.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def build(task: str, size: str, out: Path = HERE) -> Path:
    import torch

    from pytest_cegi.tiny_models import SIZES, build_causal_lm

    SIZES.setdefault("wide", WIDE)

    torch.set_num_threads(1)  # deterministic and fast for models this small
    with tempfile.TemporaryDirectory() as cache:
        built = build_causal_lm(corpus(task), name=task, size=size, cache_dir=cache, **BUILD[size])
        dest = out / f"{task}-{size}"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(built, dest)
    info = json.loads((dest / "cegi-tiny.json").read_text())
    (dest / "cegi-tiny.json").rename(dest / "build-info.json")
    (dest / "build-info.json").write_text(json.dumps({**info, "task": task}, indent=2) + "\n")
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tasks", nargs="*", metavar="TASK", help=f"any of {', '.join(TASKS)} (default: all)")
    p.add_argument("--size", choices=sorted(BUILD), action="append", help="default: both")
    p.add_argument("--out", type=Path, default=HERE)
    a = p.parse_args(argv)
    unknown = sorted(set(a.tasks) - set(TASKS))
    if unknown:
        p.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for task in a.tasks or TASKS:
        for size in a.size or ("tiny", "wide"):
            print(build(task, size, a.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
