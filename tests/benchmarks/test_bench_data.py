"""The benchmark data is what its committed generator writes, and its splits are clean."""
from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "benchmarks" / "data"
TASKS = ("summarize", "sql", "translate", "vqa")


@pytest.fixture(scope="module")
def generate():
    spec = importlib.util.spec_from_file_location("bench_generate", DATA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_generator_reproduces_the_committed_files(generate, tmp_path):
    pytest.importorskip("PIL")
    written = generate.write(tmp_path)
    assert written
    for path in written:
        rel = path.relative_to(tmp_path)
        committed = DATA / rel
        if path.suffix == ".sqlite":
            def dump(p):
                con = sqlite3.connect(p)
                try:
                    return list(con.iterdump())
                finally:
                    con.close()
            assert dump(path) == dump(committed), rel
        else:
            assert path.read_bytes() == committed.read_bytes(), f"{rel} differs: re-run benchmarks/data/generate.py"


@pytest.mark.parametrize("task", TASKS)
def test_test_split_is_held_out(task):
    train, test = _jsonl(DATA / task / "train.jsonl"), _jsonl(DATA / task / "test.jsonl")
    pretrain = [r["text"] for r in _jsonl(DATA / task / "pretrain.jsonl")]
    assert len(test) >= 48 and len(train) >= 320
    test_prompts = {r["prompt"] for r in test}
    assert not test_prompts & {r["prompt"] for r in train}
    # no test example appears in the pretraining corpus in the task template
    assert not [t for t in pretrain if any(t.startswith(p) for p in test_prompts)]
    assert all(r["completion"].startswith(" ") and r["completion"].strip() for r in train + test)


def test_gold_sql_runs_on_the_shipped_database():
    con = sqlite3.connect(DATA / "sql" / "shop.sqlite")
    try:
        for r in _jsonl(DATA / "sql" / "test.jsonl") + _jsonl(DATA / "sql" / "train.jsonl"):
            con.execute(r["completion"]).fetchall()
    finally:
        con.close()


def test_patch_encoder_reads_the_rendered_scenes(generate):
    pytest.importorskip("PIL")
    import random

    rng = random.Random(0)
    for _ in range(50):
        scene = generate._scene(rng)
        tokens = generate.patch_tokens(generate.render(scene)).replace(" / ", " ").split()
        expected = [".."] * 9
        for cell, colour, shape in scene:
            expected[cell] = colour[0] + shape[0]
        assert tokens == expected


def test_committed_models_are_complete():
    for task in TASKS:
        for size in ("tiny", "wide"):
            folder = REPO / "benchmarks" / "models" / f"{task}-{size}"
            for name in ("config.json", "model.safetensors", "tokenizer.json", "build-info.json"):
                assert (folder / name).is_file(), folder / name
            info = json.loads((folder / "build-info.json").read_text())
            assert info["task"] == task and info["settings"]["size"] == size
