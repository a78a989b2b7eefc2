"""The benchmark data is what its committed generator writes, and its splits are clean."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "benchmarks" / "data"
TEXT_TASKS = ("summarize", "sql", "translate")
VISION_TASKS = ("caption", "vqa")
TASKS = TEXT_TASKS + VISION_TASKS
# Committed base models: one pair per text task, one pair shared by the vision tasks.
MODELS = {**{t: t for t in TEXT_TASKS}, "scenes": "scenes"}


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


@pytest.mark.parametrize("task", TEXT_TASKS)
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


def test_vision_test_images_are_held_out_from_every_training_split():
    """The vision tasks share their base models, so a test image of either task must not
    appear in either task's training or pretraining records."""
    seen = {
        r["scene"]
        for task in VISION_TASKS
        for split in ("train", "pretrain")
        for r in _jsonl(DATA / task / f"{split}.jsonl")
    }
    tests = [r["scene"] for task in VISION_TASKS for r in _jsonl(DATA / task / "test.jsonl")]
    assert len(tests) == len(set(tests)) >= 196 and not set(tests) & seen
    for task in VISION_TASKS:
        train, test = _jsonl(DATA / task / "train.jsonl"), _jsonl(DATA / task / "test.jsonl")
        assert len(train) >= 320 and all(r["completion"].startswith(" ") and r["scene"] for r in train + test)
    caption_test = _jsonl(DATA / "caption" / "test.jsonl")
    assert len(caption_test) >= 100  # CIDEr-D's idf needs 100+ examples
    assert all(len(r["references"]) == 3 and r["references"][0] == r["completion"].strip() for r in caption_test)


def test_scenes_render_what_their_codes_say(generate):
    """Each 8x8 cell holds the coded shape in the coded colour (or nothing); the three
    shapes cover different pixels, so they can be told apart."""
    pytest.importorskip("PIL")
    import random

    rng = random.Random(0)
    masks = {}
    for _ in range(50):
        scene = generate._scene(rng)
        code = generate.scene_code(scene)
        assert generate.parse_scene(code) == scene
        img = generate.render_scene(code)
        assert img.size == (24, 24) and img.mode == "RGB"
        px = img.load()
        shapes = dict((cell, (colour, shape)) for cell, colour, shape in scene)
        for cell in range(9):
            ox, oy = (cell % 3) * 8, (cell // 3) * 8
            ink = {(x, y): px[ox + x, oy + y] for y in range(8) for x in range(8) if px[ox + x, oy + y] != (255,) * 3}
            if cell not in shapes:
                assert not ink
                continue
            colour, shape = shapes[cell]
            assert set(ink.values()) == {generate.PALETTE[colour]}
            masks.setdefault(shape, frozenset(ink))
            assert masks[shape] == frozenset(ink)
    assert len(set(masks.values())) == 3


def test_bench_records_carry_rendered_images():
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import cegi_bench

    for task in VISION_TASKS:
        rows = cegi_bench.records(task, "test")
        assert all(r["image"].size == (24, 24) for r in rows)
        assert cegi_bench.model_dir(task, "tiny") == REPO / "benchmarks" / "models" / "scenes-tiny"
    assert cegi_bench.records("caption", "train")[0].get("references") is None


def test_committed_models_are_complete():
    for model in MODELS:
        for size in ("tiny", "wide"):
            folder = REPO / "benchmarks" / "models" / f"{model}-{size}"
            for name in ("config.json", "model.safetensors", "tokenizer.json", "build-info.json"):
                assert (folder / name).is_file(), folder / name
            info = json.loads((folder / "build-info.json").read_text())
            assert info["task"] == model and info["settings"]["size"] == size
    for size in ("tiny", "wide"):  # the vision models: a processor, and small enough to commit
        folder = REPO / "benchmarks" / "models" / f"scenes-{size}"
        assert (folder / "processor_config.json").is_file() or (folder / "preprocessor_config.json").is_file()
        assert sum(f.stat().st_size for f in folder.iterdir()) < 2_000_000
