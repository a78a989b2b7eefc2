"""Shared pieces of the benchmark suites: data, models, variants, fine-tuning settings.

Each suite (`test_summarize.py`, `test_sql.py`, `test_translate.py`, and the vision
suites `test_caption.py`, `test_vqa.py`) parametrizes one test over `variants_for(task)`:
the CEGI paper's axes -- LoRA rank, quantization, LoRA on a 4-bit base (QLoRA-style)
and model size -- each judged against the task's small base model, the reference.

The vision tasks share one pair of tiny LLaVA-style base models (`SHARED_MODELS`); their
records carry a scene code that `records()` renders into the record's `"image"`.

Environment knobs (for demonstrations and tests, not for CI):

- ``CEGI_BENCH_SABOTAGE=lora-r16[,qlora-nf4-r8]``: those variants skip fine-tuning
  (an untrained adapter behaves exactly like its base), so the gate must fail them.
- ``CEGI_BENCH_THREADS`` (default 1): torch CPU threads, see conftest.py.
"""

from __future__ import annotations

import itertools
import json
import os
from functools import cache, lru_cache
from pathlib import Path

from pytest_cegi import Variant

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
MODELS = HERE / "models"

# Every linear layer of the Llama blocks: the tiny models are too small for q/v-only LoRA.
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# Fine-tuning settings, spelled out so that a change of the library's defaults neither
# silently changes the benchmark nor invalidates the committed baseline unnoticed.
FINETUNE = dict(
    epochs=4.0, batch_size=16, lr=1e-2, weight_decay=0.0, warmup_ratio=0.05, max_length=128, seed=0, progress=False
)

# Per-task changes to FINETUNE: translation (a lexicon plus reordering) and SQL need more
# passes than the template-mapping tasks to be stable across seeds
# (benchmarks/scripts/seed_spread.py).
# Captions are up to ~110 characters, one token each in the VLM's character vocabulary,
# after ~50 prompt and image tokens.
TASK_FINETUNE = {
    "translate": {"epochs": 8.0},
    "sql": {"epochs": 8.0},
    "caption": {"max_length": 192},
    "reason": {"epochs": 8.0},
}


def finetune_settings(task: str, **overrides) -> dict:
    return {**FINETUNE, **TASK_FINETUNE.get(task, {}), **overrides}


# What gets generated per task: enough new tokens for the longest reference.
# (The VLM's tokens are characters: "nothing" is 7.)
# Reasoning: the longest worked answer ("10 + 9 = 19 . 19 - 7 = 12 #### 12") is ~20 tokens;
# programming: one-line bodies ("return values[::-1]") are under 12.
MAX_NEW_TOKENS = {"summarize": 32, "sql": 40, "translate": 24, "caption": 116, "vqa": 8, "reason": 24, "code": 16}

# The vision test sets in one generation batch each: the VLM's tokens are characters, so a
# caption is ~100 decoding steps, and per-step overhead (most of all in the unmeasured
# FLOP-counting pass before each measured window) dominates at these sizes; one batch of
# 100 instead of four of 32 made the captioning suite ~3x faster. Text tasks keep the default.
GENERATE_BATCH = {"caption": 128, "vqa": 128}

# Vision tasks and the base models they share (benchmarks/models/build.py).
SHARED_MODELS = {"caption": "scenes", "vqa": "scenes"}

# Outcome of each test's preparation, for the end-of-run timing summary (conftest.py).
RUN_LOG: list[dict] = []


def model_dir(task: str, size: str) -> Path:
    return MODELS / f"{SHARED_MODELS.get(task, task)}-{size}"


# Suites that run a subset of the variants, to keep the main job short: one of each
# axis (LoRA at two ranks, 4-bit, the larger base with and without LoRA); int8 and
# QLoRA repeat what the other suites already show for these model sizes.
VARIANT_SUBSETS = {
    "reason": ("base", "lora-r4", "lora-r16", "nf4", "large", "large-lora-r8"),
    "code": ("base", "lora-r4", "lora-r16", "nf4", "large", "large-lora-r8"),
}


def variants_for(task: str) -> list[Variant]:
    """The paper's variants for one task; `base` (the small pretrained model) is the reference."""
    every = _all_variants(task)
    keep = VARIANT_SUBSETS.get(task)
    return every if keep is None else [v for v in every if v.name in keep]


def _all_variants(task: str) -> list[Variant]:
    small, large = str(model_dir(task, "tiny")), str(model_dir(task, "wide"))

    def lora(r):
        return {"r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0, "target_modules": TARGETS}

    return [
        Variant("base", small, reference=True),
        Variant("lora-r4", small, lora=lora(4)),
        Variant("lora-r16", small, lora=lora(16)),
        Variant("int8", small, quantization="int8"),
        Variant("nf4", small, quantization="nf4"),
        Variant("qlora-nf4-r8", small, quantization="nf4", lora=lora(8)),
        Variant("large", large, reference=False),
        Variant("large-lora-r8", large, lora=lora(8)),
    ]


@cache
def _records(task: str, split: str) -> tuple:
    with open(DATA / task / f"{split}.jsonl", encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


def records(task: str, split: str) -> list[dict]:
    """`train` or `test` records ({"prompt", "completion"}) of a task; a vision task's
    also have their "image" (and test records their "references", several captions)."""
    rows = [dict(r) for r in _records(task, split)]
    for r in rows:
        if "scene" in r:
            r["image"] = scene_image(r["scene"])
    return rows


@cache
def _generate_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cegi_bench_generate", DATA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=4096)
def scene_image(code: str):
    """The 24x24 image of a scene code ("0rc 4bs"), drawn by data/generate.py (about 0.3 ms)."""
    return _generate_module().render_scene(code)


def sabotaged() -> set[str]:
    return {v.strip() for v in os.environ.get("CEGI_BENCH_SABOTAGE", "").split(",") if v.strip()}


def code_sample(prompt: str, generated: str) -> str:
    """A runnable sample: the prompt (def line and docstring) and the generated body.

    `generate()` strips each completion, so the body's first line lost its indentation:
    it gets the four spaces back. Generation stops at the first line that is not
    indented (HumanEval's stop sequences: whatever follows the function is not part of it).
    """
    lines = ("    " + generated).split("\n")
    body = [lines[0]] + [line for line in itertools.takewhile(lambda text: not text or text[0] in " \t", lines[1:])]
    return prompt + "\n" + "\n".join(body).rstrip() + "\n"


def run_programming(cegi, variant: Variant, **score_kw) -> dict:
    """The programming suite: every test problem in all its docstring phrasings, one greedy
    sample per phrasing (n = CODE_SAMPLES), generated in one measured window, then run
    against the problem's tests by pass_at_k in the code sandbox (outside any window:
    executing tests is evaluation, not inference)."""
    task = "code"
    train = records(task, "train") if variant.lora is not None else None
    sabotage = variant.name in sabotaged()
    if sabotage:
        train = None
    handle = cegi.prepare(variant, train=train, **finetune_settings(task))
    test = records(task, "test")
    prompts = [p for r in test for p in r["prompts"]]
    outputs = cegi.measure_call(handle.generate, prompts, max_new_tokens=MAX_NEW_TOKENS[task], requests=len(prompts))
    n = len(test[0]["prompts"])
    samples = [
        [code_sample(p, o) for p, o in zip(r["prompts"], outputs[i * n : (i + 1) * n], strict=True)]
        for i, r in enumerate(test)
    ]
    scores = cegi.score("pass_at_k", samples, [r["test"] for r in test], **score_kw)
    _log_run(task, variant, handle, sabotage, scores)
    return scores


def _log_run(task: str, variant: Variant, handle, sabotage: bool, scores: dict) -> None:
    """One line of the session's RUN_LOG (the conftest prints and saves it)."""
    meta = handle.metadata
    RUN_LOG.append(
        {
            "task": task,
            "variant": variant.name,
            "lora": variant.lora is not None,
            "cached": bool(meta.get("cached")),
            "trained": bool(meta.get("finetune_steps")),
            "sabotaged": sabotage,
            "scores": scores,
        }
    )


def run_variant(cegi, task: str, variant: Variant, metric: str, *, also=(), record_property=None, **score_kw) -> dict:
    """Prepare (fine-tune when LoRA), generate for the test set in a measured window, score.

    `metric` is recorded (it drives gain and CEGI); metrics named in `also` are computed
    on the same predictions and reported alongside (JUnit property, summary).
    Returns every score computed.
    """
    train = records(task, "train") if variant.lora is not None else None
    sabotage = variant.name in sabotaged()
    if sabotage:
        train = None  # an untrained LoRA adapter: B = 0, the base model's outputs
    handle = cegi.prepare(variant, train=train, **finetune_settings(task))
    test = records(task, "test")
    prompts = [r["prompt"] for r in test]
    extra = {"images": [r["image"] for r in test]} if "image" in test[0] else {}
    if task in GENERATE_BATCH:
        extra["batch_size"] = GENERATE_BATCH[task]
    predictions = cegi.measure_call(
        handle.generate, prompts, max_new_tokens=MAX_NEW_TOKENS[task], requests=len(prompts), **extra
    )
    # Several reference captions where the data has them, else the completion.
    references = [r.get("references") or r["completion"].strip() for r in test]
    scores = cegi.score(metric, predictions, references, **score_kw)
    if also:
        from pytest_cegi import metrics

        for name in also:
            result = metrics.compute(name, predictions, references)
            scores[result.key] = result.value
            if record_property is not None:
                record_property(result.key, result.value)
    _log_run(task, variant, handle, sabotage, scores)
    return scores


def detection_records(split: str) -> list[dict]:
    """Detection records with their rendered 32x32 image (data/generate.py's render_detection)."""
    generate = _generate_module()
    return [{**r, "image": generate.render_detection(r["scene"])} for r in _records("detect", split)]


def name_variant_or_skip(cegi, variant) -> None:
    """Name the test's variant (and whether it is the reference); skip it, with the reason,
    where bitsandbytes cannot run its quantization on this CPU."""
    cegi.variant = variant.name
    cegi.reference = variant.reference
    if variant.quantization:
        import pytest

        from pytest_cegi.models.variants import quantization_problem

        problem = quantization_problem(variant.quantization, "cpu")
        if problem:
            pytest.skip(f"variant {variant.name!r}: {variant.quantization} quantization unavailable: {problem}")


def run_detection(cegi, variant) -> dict:
    """The detection suite: load the variant (4-bit: bitsandbytes, or a skip), fine-tune it
    in a measured `finetune` window when it is trained, then detect on the test images in
    repeated inference windows (at least cegi_detect.REPEAT; the study ran 15) and score COCO mAP."""
    import cegi_detect

    name_variant_or_skip(cegi, variant)
    model, processor = cegi_detect.load(MODELS / f"detect-{variant.size}", variant.quantization)
    sabotage = variant.name in sabotaged()
    steps = 0
    if variant.train == "lora":
        model = cegi_detect.with_lora(model, variant.lora_r)
    if variant.train and not sabotage:
        with cegi.measure("finetune"):
            steps = len(
                cegi_detect.train(model, processor, detection_records("train"), **cegi_detect.FINETUNE[variant.train])
            )
    # T_M: what was trained to make the variant: all weights for a full
    # fine-tune, adapter and heads for LoRA; 0 for a model used as is (no CEGI then).
    # A sabotaged variant keeps its T_M: it claims the training it skipped.
    cegi.trainable_params = cegi_detect.trainable(model) if variant.train else 0
    test = detection_records("test")
    images = [r["image"] for r in test]
    cegi.repeat = max(cegi.repeat, cegi_detect.REPEAT)
    predictions = cegi.measure_call(cegi_detect.detect, model, processor, images, requests=len(images))
    scores = cegi.score("detection_map", predictions, [{"boxes": r["boxes"], "labels": r["labels"]} for r in test])
    RUN_LOG.append(
        {
            "task": "detect",
            "variant": variant.name,
            "lora": variant.train == "lora",
            "cached": False,
            "trained": steps > 0,
            "sabotaged": sabotage,
            "scores": scores,
        }
    )
    return scores


def imagine_records(split: str) -> list[dict]:
    """Text-to-image records: `train` with its rendered 24x24 "image", `test` with what
    the generated image must show ("prompt", "colour", "shape")."""
    generate = _generate_module()
    rows = [dict(r) for r in _records("imagine", split)]
    for r in rows:
        if "scene" in r:
            r["image"] = generate.render_detection(r["scene"], side=generate.IMAGINE_PIXELS)
    return rows


def cache_dir(config) -> Path:
    """The session's adapter cache folder (`--cegi-cache-dir`, default `.cegi-cache`)."""
    from pytest_cegi.plugin import STATE

    state = config.stash.get(STATE, None)
    return Path(state.settings.cache_dir) if state is not None and state.settings.cache_dir else Path(".cegi-cache")


def _imagine_finetune(cegi, pipe, variant, cache_root: Path) -> tuple[int, bool]:
    """Fine-tune the LoRA adapter in a `finetune` window, or load it from the adapter cache
    (pytest_cegi.models.adapter_cache, keyed by base weights, LoRA settings, data and
    training settings) and replay its stored window. Returns (steps trained, cached)."""
    import cegi_imagine
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from pytest_cegi.models import adapter_cache

    base = MODELS / f"imagine-{variant.size}"
    fingerprint = "+".join(adapter_cache.model_fingerprint(base / part) for part in ("unet", "text_encoder"))
    spec = {"suite": "imagine", "lora_r": variant.lora_r, "targets": cegi_imagine.LORA_TARGETS}
    records = [{"prompt": r["prompt"], "scene": r["scene"]} for r in _records("imagine", "train")]
    key = adapter_cache.cache_key(fingerprint, spec, records, cegi_imagine.FINETUNE)
    cache = adapter_cache.AdapterCache(cache_root)
    identity = cegi.meter_identity()
    entry = cache.lookup(key)
    stored = entry.window_for(identity) if entry is not None else None
    if entry is not None and stored is not None:
        set_peft_model_state_dict(pipe.unet, load_file(str(entry.path / "adapter_model.safetensors")))
        pipe.unet.eval()
        cegi.replay_window(stored)
        return 0, True
    with cegi.measure("finetune") as window:
        losses = cegi_imagine.train(pipe, imagine_records("train"), **cegi_imagine.FINETUNE)
    info = {"steps": len(losses), "losses": [round(x, 5) for x in losses], "variant": variant.name}
    cache.store(key, pipe.unet, getattr(window, "result", None), info, identity)
    return len(losses), False


def run_imagine(cegi, variant, cache_root: Path) -> dict:
    """The text-to-image suite: load the pipeline (int8/nf4 denoiser: bitsandbytes, or a
    skip), fine-tune LoRA on the denoiser's attention in a `finetune` window (or replay it
    from the adapter cache), sample one image per test prompt in a measured inference
    window (one request per image), and score the images with the pixel checker."""
    import cegi_imagine

    from pytest_cegi.models.variants import count_parameters

    name_variant_or_skip(cegi, variant)
    pipe = cegi_imagine.load(MODELS / f"imagine-{variant.size}", variant.quantization)
    sabotage = variant.name in sabotaged()
    steps, cached = 0, False
    if variant.lora_r:
        cegi_imagine.with_lora(pipe, variant.lora_r)
        if not sabotage:  # an untrained adapter (B = 0) samples exactly like its base
            steps, cached = _imagine_finetune(cegi, pipe, variant, cache_root)
    # T_M: the adapter's parameters for LoRA (a sabotaged variant keeps them: it claims
    # the training it skipped); 0 for a pipeline used as is.
    cegi.trainable_params = count_parameters(pipe.unet)[1] if variant.lora_r else 0
    # What cegi.prepare records for a transformers variant, so the reports and the
    # benchmarks' run-time line (adapters trained or reused) read this suite alike.
    meta = {"quantization": variant.quantization, "lora_rank": variant.lora_r or None}
    cegi.record.quantization, cegi.record.lora_rank = meta["quantization"], meta["lora_rank"]
    cegi.record.variant_meta = {**meta, "cached": cached, "finetune_steps": steps, "sampler": variant.sampler}
    test = imagine_records("test")
    prompts = [r["prompt"] for r in test]
    images = cegi.measure_call(
        cegi_imagine.generate,
        pipe,
        prompts,
        sampler_name=variant.sampler,
        steps=variant.steps,
        guidance=cegi_imagine.GUIDANCE,
        seed=cegi_imagine.SEED,
        requests=len(prompts),
    )
    scores = cegi_imagine.score(images, test)
    cegi.record_score(scores["image_check"], metric="image_check")
    RUN_LOG.append(
        {
            "task": "imagine",
            "variant": variant.name,
            "lora": bool(variant.lora_r),
            "cached": cached,
            "trained": steps > 0,
            "sabotaged": sabotage,
            "scores": scores,
        }
    )
    return scores
