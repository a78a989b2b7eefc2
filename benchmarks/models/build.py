"""Pretrain the benchmark suites' tiny base models from scratch and commit them.

    python benchmarks/models/build.py              # every task, both sizes
    python benchmarks/models/build.py sql --size tiny

Each task gets two Llama-style causal LMs trained by `pytest_cegi.models.tiny_models` on
the task's generic corpus (`benchmarks/data/<task>/pretrain.jsonl`, see
`benchmarks/data/generate.py`): the reference ``tiny`` (2 layers, 64 wide, ~0.16 M
parameters) and the "larger base" ``wide`` (2 layers, 128 wide, ~0.6 M). They are
a few MB, so they are committed under `benchmarks/models/<task>-<size>/` and the
benchmark run only loads them: pretraining is not part of any variant's measured
emissions (as in the CEGI paper, whose base models come pretrained).

The two vision tasks (``caption``, ``vqa``) share one pair of vision-language models,
``scenes-tiny`` and ``scenes-wide``: LLaVA-style (CLIP vision tower, projector, Llama
text model, LLaVA processor) from `pytest_cegi.models.tiny_models.build_tiny_llava`, then
pretrained here, every weight, on both tasks' pretraining records (alt-texts and
questions about the images in other templates; `benchmarks/data/generate.py`).

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
TASKS = ("summarize", "sql", "translate", "caption", "vqa", "reason", "code", "detect", "imagine")
# Vision tasks and the model they share (one base fine-tuned per task, as with a real VLM).
SHARED = {"caption": "scenes", "vqa": "scenes"}
# The larger base: as deep as "tiny" (two layers learn the copying these tasks need
# in a few hundred steps; tiny_models' 4-layer "small" did not in 800), twice as
# wide, twice the vocabulary: about 4x the parameters. Registered here so that
# pytest_cegi.models.tiny_models builds it like its own sizes.
WIDE = dict(hidden=128, ffn=512, layers=2, heads=4, vocab=1024)
# Pretraining settings per size: the larger model gets the same data and steps.
BUILD = {
    "tiny": dict(steps=600, batch_size=32, lr=3e-3, max_length=96, seed=0),
    "wide": dict(steps=600, batch_size=32, lr=3e-3, max_length=96, seed=0),
}


# The vision models: 24x24 images in 8x8 patches (one per grid cell of a scene: 9 image
# tokens), a character vocabulary. "tiny" is the reference; "wide" is the larger base
# (96 wide, about 2x the parameters; kept under 2 MB because it is committed). Only the
# tiny one is quantized by the benchmark, so only it needs bitsandbytes-friendly widths.
VISION_SIZES = {
    "tiny": dict(hidden=64, vision_ffn=128, text_ffn=128),
    "wide": dict(hidden=96, vision_ffn=192, text_ffn=192),
}
VISION_COMMON = dict(image_size=24, patch_size=8, layers=2, heads=4, seed=0)
# Every weight trained (it is pretraining), on the union of both tasks' pretraining records.
# lr 1e-3: at 3e-3 (the text models' rate) the randomly initialised vision tower collapsed
# to a constant output and the model learned captions blind (loss at the language prior,
# the same caption for every image); 16 epochs (1500 steps) to read positions reliably.
VISION_BUILD = dict(
    epochs=16.0, batch_size=32, lr=1e-3, weight_decay=0.0, warmup_ratio=0.05, max_length=192, seed=0, progress=False
)
_BUILT: set[Path] = set()  # shared models built in this process (caption and vqa name the same)


def corpus(task: str) -> list[str]:
    with open(DATA / task / "pretrain.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def build(task: str, size: str, out: Path = HERE) -> Path:
    if task in SHARED:
        return build_vision(size, out)
    if task == "detect":
        return build_detection(size, out)
    if task == "imagine":
        return build_imagine(size, out)
    import torch

    from pytest_cegi.models.tiny_models import SIZES, build_causal_lm

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


def vision_records() -> list[dict]:
    """Both vision tasks' pretraining records, each with its rendered image."""
    generate = _generate_module()
    rows = []
    for task in sorted(set(SHARED)):
        with open(DATA / task / "pretrain.jsonl", encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return [
        {"prompt": r["prompt"], "completion": r["completion"], "image": generate.render_scene(r["scene"])} for r in rows
    ]


def _generate_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_generate", DATA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_vision(size: str, out: Path = HERE) -> Path:
    """Random tiny LLaVA (architecture and processor), then pretrained on the scenes."""
    import time

    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from pytest_cegi.models.finetune import FinetuneSettings, finetune, normalize_records
    from pytest_cegi.models.tiny_models import build_tiny_llava

    dest = out / f"{SHARED['caption']}-{size}"
    if dest in _BUILT:
        return dest
    torch.set_num_threads(1)  # deterministic and fast for models this small
    started = time.perf_counter()
    records = normalize_records(vision_records())
    settings = FinetuneSettings(**VISION_BUILD)
    with tempfile.TemporaryDirectory() as cache:
        random_init = build_tiny_llava(name="scenes", cache_dir=cache, **VISION_COMMON, **VISION_SIZES[size])
        model = LlavaForConditionalGeneration.from_pretrained(random_init)
        processor = AutoProcessor.from_pretrained(random_init)
    result = finetune(model, processor, records, settings, seq2seq=False)
    shutil.rmtree(dest, ignore_errors=True)
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    tail = result.losses[-20:]
    info = {
        "task": SHARED["caption"],
        "tasks": sorted(SHARED),
        "settings": {"size": size, **VISION_COMMON, **VISION_SIZES[size], **settings.cache_dict()},
        "steps": result.steps,
        "final_loss": sum(tail) / len(tail),
        "examples": len(records),
        "params": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (dest / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    _BUILT.add(dest)
    return dest


# The detection models (benchmarks/cegi_detect.py: a tiny Conditional DETR from configs,
# ResNet backbone without timm or torchvision): every weight trained from scratch on the
# one-shape images of data/detect/pretrain.jsonl. DETR's set loss converges slowly, so
# many short steps; the larger base gets the same data and steps.
DETECT_BUILD = dict(steps=12000, batch_size=16, lr=1e-3, seed=0)


def build_detection(size: str, out: Path = HERE) -> Path:
    import importlib.util
    import time

    import torch

    spec = importlib.util.spec_from_file_location("cegi_detect_build", HERE.parent / "cegi_detect.py")
    detect = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(detect)
    generate = _generate_module()
    torch.set_num_threads(1)  # deterministic and fast for models this small
    started = time.perf_counter()
    with open(DATA / "detect" / "pretrain.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for r in rows:
        r["image"] = generate.render_detection(r["scene"])
    model, processor = detect.new_model(size, seed=DETECT_BUILD["seed"])
    losses = detect.train(model, processor, rows, **DETECT_BUILD)
    dest = out / f"detect-{size}"
    shutil.rmtree(dest, ignore_errors=True)
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    tail = losses[-200:]
    info = {
        "task": "detect",
        "settings": {
            "size": size,
            "arch": detect.ARCH,
            **detect.SIZES[size],
            "num_queries": detect.NUM_QUERIES,
            **DETECT_BUILD,
        },
        "final_loss": sum(tail) / len(tail),
        "examples": len(rows),
        "params": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (dest / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    return dest


# The text-to-image pipelines (benchmarks/cegi_imagine.py: a diffusers pipeline of a
# pixel-space UNet2DConditionModel, a DDPM schedule and a tiny CLIP text encoder): every
# weight, text encoder included, trained from scratch on data/imagine/pretrain.jsonl,
# whose shapes are small (6 pixels; the task's are 10). The larger base gets the same
# data and steps.
IMAGINE_BUILD = dict(steps=900, batch_size=32, lr=1e-3, seed=0)


def build_imagine(size: str, out: Path = HERE) -> Path:
    import time

    import torch

    sys.path.insert(0, str(HERE.parent))  # cegi_imagine imports imagine_pipeline
    import cegi_imagine

    generate = _generate_module()
    torch.set_num_threads(1)  # deterministic and fast for models this small
    started = time.perf_counter()
    with open(DATA / "imagine" / "pretrain.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for r in rows:
        r["image"] = generate.render_detection(r["scene"], side=generate.IMAGINE_PIXELS)
    pipe = cegi_imagine.new_pipeline(size, seed=IMAGINE_BUILD["seed"])
    losses = cegi_imagine.train(pipe, rows, **IMAGINE_BUILD)
    dest = out / f"imagine-{size}"
    shutil.rmtree(dest, ignore_errors=True)
    pipe.save_pretrained(dest)
    tail = losses[-100:]
    info = {
        "task": "imagine",
        "settings": {"size": size, **cegi_imagine.SIZES[size], "text": cegi_imagine.TEXT, **IMAGINE_BUILD},
        "final_loss": sum(tail) / len(tail),
        "examples": len(rows),
        "params": {
            "unet": sum(p.numel() for p in pipe.unet.parameters()),
            "text_encoder": sum(p.numel() for p in pipe.text_encoder.parameters()),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    (dest / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
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
