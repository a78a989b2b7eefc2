"""The text-to-image suite's data, checker and pipeline: the pixel checker on hand-made
images, deterministic sampling with every sampler, bitsandbytes on the denoiser."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
DATA = BENCH / "data"

pytest.importorskip("PIL")


@pytest.fixture(scope="module")
def ci():
    sys.path.insert(0, str(BENCH))
    try:
        import cegi_imagine

        yield cegi_imagine
    finally:
        sys.path.remove(str(BENCH))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _drawn(ci, colour: str, shape: str, quadrant: int):
    g = ci._generate()
    return g.render_detection(g.imagine_code(colour, shape, quadrant), side=g.IMAGINE_PIXELS)


def test_imagine_data_is_deterministic_and_balanced(ci):
    g = ci._generate()
    assert g.imagine.__wrapped__() == g.imagine.__wrapped__()
    test, train = _jsonl(DATA / "imagine" / "test.jsonl"), _jsonl(DATA / "imagine" / "train.jsonl")
    assert test == g.imagine()["test"] and len(train) == 320 and len(test) == 12
    assert all(sum((r["colour"], r["shape"]) == (c, s) for r in test) == 1 for c in g.PALETTE for s in g.SHAPES)
    assert all(r["prompt"] == f"a {r['colour']} {r['shape']}" for r in test + train)
    pretrain = _jsonl(DATA / "imagine" / "pretrain.jsonl")
    # pretraining: the same prompts, small shapes; the task: 10-pixel shapes
    assert all(r["prompt"] == f"a {r['colour']} {r['shape']}" for r in pretrain)
    assert {r["scene"][-2:] for r in pretrain} == {f"{g.IMAGINE_SMALL:02d}"}
    assert {r["scene"][-2:] for r in train} == {f"{g.IMAGINE_SHAPE:02d}"}


def test_checker_passes_every_drawn_shape(ci):
    g = ci._generate()
    for colour in g.PALETTE:
        for shape in g.SHAPES:
            for q, position in enumerate(g.QUADRANTS):
                assert ci.check(_drawn(ci, colour, shape, q), colour, shape, position)["ok"], (colour, shape, position)


def test_checker_on_hand_made_images(ci):
    from PIL import Image

    right = _drawn(ci, "red", "circle", 0)
    # the suite's check: colour and shape (its prompts name no position)
    assert ci.check(right, "red", "circle") == {"colour": True, "size": True, "shape": True, "ok": True}
    assert ci.check(_drawn(ci, "red", "circle", 3), "red", "circle")["ok"]
    assert ci.check(_drawn(ci, "red", "triangle", 2), "red", "circle") == {
        "colour": True,
        "size": True,
        "shape": False,
        "ok": False,
    }
    # pretraining's style: small shapes of the right colour are not the task's image
    g = ci._generate()
    for shape in g.SHAPES:
        small = g.render_detection(g.imagine_code("red", shape, 1, (3, 3), g.IMAGINE_SMALL), side=g.IMAGINE_PIXELS)
        result = ci.check(small, "red", shape)
        assert result["colour"] and not result["size"] and not result["ok"], shape
    assert ci.check(right, "red", "circle", "top left") == {
        "colour": True,
        "size": True,
        "shape": True,
        "position": True,
        "ok": True,
    }
    # wrong colour: a blue circle where a red one is asked for
    wrong_colour = ci.check(_drawn(ci, "blue", "circle", 0), "red", "circle", "top left")
    assert wrong_colour == {"colour": False, "size": False, "shape": False, "position": False, "ok": False}
    # wrong shape, right colour and place
    assert ci.check(_drawn(ci, "red", "square", 0), "red", "circle", "top left") == {
        "colour": True,
        "size": True,
        "shape": False,
        "position": True,
        "ok": False,
    }
    assert not ci.check(_drawn(ci, "red", "triangle", 0), "red", "square", "top left")["shape"]
    # wrong place
    assert ci.check(_drawn(ci, "red", "circle", 3), "red", "circle", "top left")["position"] is False
    assert not ci.check(Image.new("RGB", (24, 24), "white"), "red", "circle")["ok"]
    # blank, and a wash of the colour over the whole image (no shape)
    assert not ci.check(Image.new("RGB", (24, 24), "white"), "red", "circle", "top left")["colour"]
    flood = ci.check(Image.new("RGB", (24, 24), (220, 40, 40)), "red", "square", "bottom right")
    assert flood["colour"] and not flood["shape"] and not flood["ok"]


def test_checker_tolerates_noise_but_not_a_smudge(ci):
    """Pixels near a palette colour still count (generated images are not exact); a few
    stray pixels of the colour are not a shape."""
    import random

    img = _drawn(ci, "green", "triangle", 2)
    rng = random.Random(0)
    px = img.load()
    for y in range(24):
        for x in range(24):
            px[x, y] = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in px[x, y])
    assert ci.check(img, "green", "triangle", "bottom left")["ok"]
    from PIL import Image

    smudge = Image.new("RGB", (24, 24), "white")
    for x, y in [(3, 3), (4, 3), (3, 4)]:
        smudge.putpixel((x, y), (40, 170, 60))
    assert not ci.check(smudge, "green", "triangle", "top left")["colour"]


@pytest.fixture(scope="module")
def pipeline_dir(ci, tmp_path_factory):
    """A randomly initialised tiny pipeline, saved and reloaded the diffusers way."""
    pytest.importorskip("diffusers")
    import torch

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("imagine") / "pipe"
    ci.new_pipeline("tiny", seed=0).save_pretrained(path)
    assert (path / "model_index.json").is_file()
    return path


@pytest.mark.parametrize("sampler", ["euler-a", "lms", "ddim", "dpm++2m-karras"])
def test_sampling_is_deterministic(ci, pipeline_dir, sampler):
    import numpy as np

    pipe = ci.load(pipeline_dir)
    prompts = ["a red circle", "a blue square"]
    first = ci.generate(pipe, prompts, sampler_name=sampler, steps=3, guidance=2.0, seed=7)
    again = ci.generate(ci.load(pipeline_dir), prompts, sampler_name=sampler, steps=3, guidance=2.0, seed=7)
    other = ci.generate(pipe, prompts, sampler_name=sampler, steps=3, guidance=2.0, seed=8)
    assert [im.size for im in first] == [(24, 24), (24, 24)] and first[0].mode == "RGB"
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, other, strict=True))
    assert type(pipe.scheduler).__name__ == "DDPMScheduler"  # the training schedule is restored


@pytest.mark.parametrize("quantization", ["int8", "nf4"])
def test_quantized_denoiser_skips_only_unpackable_layers(ci, pipeline_dir, quantization):
    pytest.importorskip("bitsandbytes")
    import torch

    from pytest_cegi.models.variants import quantization_problem

    problem = quantization_problem(quantization, "cpu")
    if problem:
        pytest.skip(problem)
    pipe = ci.load(pipeline_dir)
    take, skip = ci.quantizable(pipe.unet)
    # tiny: the 16-wide time-embedding layers (first level has 16 channels); all attention is 32 wide
    assert take and skip and all("time_emb" in n for n in skip)
    ci.quantize(pipe.unet, quantization)
    linears = [n for n, m in pipe.unet.named_modules() if type(m) is torch.nn.Linear]
    assert sorted(linears) == sorted(skip)
    images = ci.generate(pipe, ["a red circle"], steps=2)
    assert images[0].size == (24, 24)
