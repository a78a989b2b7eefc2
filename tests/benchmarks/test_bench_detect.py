"""The detection suite's data and model code: deterministic scenes, boxes that match
the drawn pixels, held-out test images, a tiny DETR that builds offline."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "benchmarks" / "data"


@pytest.fixture(scope="module")
def generate():
    spec = importlib.util.spec_from_file_location("bench_generate_det", DATA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_detection_data_is_deterministic_and_held_out(generate):
    assert generate.detection.__wrapped__() == generate.detection.__wrapped__()
    train, test = _jsonl(DATA / "detect" / "train.jsonl"), _jsonl(DATA / "detect" / "test.jsonl")
    pretrain = _jsonl(DATA / "detect" / "pretrain.jsonl")
    assert len(test) >= 64 and len(train) >= 320 and len(pretrain) >= 2000
    assert not {r["scene"] for r in test} & {r["scene"] for r in train + pretrain}
    assert all(2 <= len(r["labels"]) <= 3 for r in train + test)  # the task: several shapes
    assert all(len(r["labels"]) == 1 for r in pretrain)  # pretraining: one per image


def test_boxes_are_the_tight_boxes_of_the_drawn_shapes(generate):
    """Each box encloses exactly its shape's coloured pixels; boxes never overlap."""
    pytest.importorskip("PIL")
    rng = random.Random(3)
    for _ in range(40):
        code = generate._detection_scene(rng, rng.randint(1, 3))
        img = generate.render_detection(code)
        assert img.size == (32, 32)
        px = img.load()
        boxes, labels = generate.detection_boxes(code)
        for (shape, colour, *_), box, label in zip(generate.parse_detection(code), boxes, labels, strict=True):
            assert generate.SHAPES[label] == shape
            ink = [
                (x, y)
                for y in range(32)
                for x in range(32)
                if px[x, y] == generate.PALETTE[colour] and box[0] <= x < box[2] and box[1] <= y < box[3]
            ]
            xs, ys = [x for x, _ in ink], [y for _, y in ink]
            assert [min(xs), min(ys), max(xs) + 1, max(ys) + 1] == box
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_gold_boxes_score_a_perfect_map():
    pytest.importorskip("pycocotools")
    from pytest_cegi import metrics

    test = _jsonl(DATA / "detect" / "test.jsonl")
    refs = [{"boxes": r["boxes"], "labels": r["labels"]} for r in test]
    preds = [{**ref, "scores": [1.0] * len(ref["labels"])} for ref in refs]
    assert metrics.compute("detection_map", preds, refs).value == pytest.approx(1.0)


def test_tiny_detr_builds_offline_and_detects(monkeypatch):
    """From configs alone: no timm, no torchvision, no Hub (HF_HUB_OFFLINE)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO / "benchmarks"))
    import cegi_detect
    from PIL import Image

    model, processor = cegi_detect.new_model("tiny")
    out = cegi_detect.detect(model, processor, [Image.new("RGB", (32, 32), "white")] * 2)
    assert len(out) == 2 and len(out[0]["boxes"]) == len(out[0]["scores"]) == len(out[0]["labels"]) > 0
    assert all(0 <= v <= 32 for box in out[0]["boxes"] for v in box)


def test_committed_detection_models_are_small_and_complete():
    for size in ("tiny", "wide"):
        folder = REPO / "benchmarks" / "models" / f"detect-{size}"
        for name in ("config.json", "model.safetensors", "preprocessor_config.json", "build-info.json"):
            assert (folder / name).is_file(), folder / name
        info = json.loads((folder / "build-info.json").read_text())
        assert info["task"] == "detect" and info["settings"]["size"] == size
        assert sum(f.stat().st_size for f in folder.iterdir()) < 4_000_000
