"""The text-to-image suite's model code: a tiny diffusers pipeline, trained and run on CPU.

The pipeline (`imagine_pipeline.ShapesPipeline`, a `diffusers.DiffusionPipeline`) is
built from configs alone: a `UNet2DConditionModel` denoising 24x24 RGB pixels, the
`DDPMScheduler` it is trained with, a 2-layer `CLIPTextModel` and a word-level
tokenizer over the task's 8 words. `build.py` pretrains the two bases with `train()`;
`test_imagine.py` fine-tunes LoRA on the denoiser's attention and samples with the same
functions. Training is the standard diffusion loss (MSE on the velocity v, diffusers' `get_velocity`,
10% of prompts dropped for classifier-free guidance), seeded and single-threaded.

`check()` is the task's score: pixel statistics that say whether an image shows a blob
of the named colour, of the task's size and of the named shape (see its docstring and
benchmarks/README.md for what it measures and misses). The bases are pretrained on the
same prompts with small (6-pixel) shapes; the task's images have 10-pixel shapes, the
style that fine-tuning adds.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Two denoiser sizes, as for the other suites: the reference and a larger base. The
# text encoder is the same for both.
SIZES = {
    "tiny": dict(channels=(16, 32)),
    "wide": dict(channels=(24, 48)),
}
TEXT = dict(hidden=32, ffn=64, layers=2, heads=4)
MAX_TOKENS = 4  # "a yellow triangle" is 3 words + end token
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
# Sampling defaults of the main variants: the study's best sampler at a few steps.
STEPS, GUIDANCE, SEED = 10, 3.0, 0
TRAIN_TIMESTEPS = 1000


@cache
def _generate():
    spec = importlib.util.spec_from_file_location("imagine_generate", HERE / "data" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vocabulary() -> list[str]:
    g = _generate()
    words = {"a"} | set(g.PALETTE) | set(g.SHAPES)
    return [*SPECIALS, *sorted(words)]


def new_tokenizer():
    """Word-level tokenizer (no training needed: the vocabulary is the task's words)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=MAX_TOKENS,
    )


def new_pipeline(size: str, seed: int = 0):
    """A randomly initialised pipeline of the given denoiser size."""
    import torch
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from imagine_pipeline import ShapesPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = new_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TEXT["hidden"],
            intermediate_size=TEXT["ffn"],
            num_hidden_layers=TEXT["layers"],
            num_attention_heads=TEXT["heads"],
            max_position_embeddings=MAX_TOKENS,
            projection_dim=TEXT["hidden"],
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=_generate().IMAGINE_PIXELS,
        in_channels=5,  # RGB + the two coordinate channels (imagine_pipeline.with_coordinates)
        out_channels=3,
        block_out_channels=SIZES[size]["channels"],
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT["hidden"],
        attention_head_dim=8,
        norm_num_groups=8,
    )
    # v-prediction: with noise prediction, sampling from pure noise multiplies the tiny
    # model's error by sqrt((1 - a) / a) (~60 at t = 900), and every sampler drew noise
    # (checker score 0 for a model with training loss 0.02); v keeps x0 well-posed.
    scheduler = DDPMScheduler(
        num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="linear", prediction_type="v_prediction"
    )
    return ShapesPipeline(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)


def image_tensor(images: Sequence):
    """PIL images as a float tensor in [-1, 1], (N, 3, H, W)."""
    import numpy as np
    import torch

    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2) / 127.5 - 1.0


def train(
    pipe,
    records: Sequence[dict],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    drop_prompt: float = 0.1,
    text_encoder: bool = True,
) -> list[float]:
    """AdamW on the v-prediction loss over `records` ({"prompt", "image"}): trains the
    denoiser's parameters that require grad (all, or a LoRA adapter's) and, with
    `text_encoder`, the text encoder too. Returns the losses."""
    import torch
    from imagine_pipeline import with_coordinates

    torch.manual_seed(seed)
    order = random.Random(seed)
    unet, encoder = pipe.unet, pipe.text_encoder
    encoder.requires_grad_(text_encoder)
    params = [p for p in unet.parameters() if p.requires_grad]
    if text_encoder:
        params += list(encoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 20) * (1 - i / steps))
    x0 = image_tensor([r["image"] for r in records])
    prompts = [r["prompt"] for r in records]
    alphas = pipe.scheduler.alphas_cumprod
    losses = []
    unet.train()
    encoder.train(text_encoder)
    for _ in range(steps):
        idx = [order.randrange(len(records)) for _ in range(batch_size)]
        batch = [("" if order.random() < drop_prompt else prompts[i]) for i in idx]
        x = x0[idx]
        t = torch.randint(0, TRAIN_TIMESTEPS, (batch_size,))
        noise = torch.randn_like(x)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x + (1 - a).sqrt() * noise
        if text_encoder:
            context = pipe.encode(batch)
        else:
            with torch.no_grad():
                context = pipe.encode(batch)
        target = pipe.scheduler.get_velocity(x, noise, t)
        predicted = unet(with_coordinates(noisy), t, encoder_hidden_states=context).sample
        loss = torch.nn.functional.mse_loss(predicted, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    unet.eval()
    encoder.eval()
    encoder.requires_grad_(False)
    return losses


# --- samplers ------------------------------------------------------------------------

# The study's four samplers, as diffusers schedulers built from the pipeline's
# training schedule: Euler-a, LMS, DDIM, DPM++ 2M Karras.
SAMPLERS = {
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "dpm++2m-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
}


def sampler(pipe, name: str):
    """A new scheduler of the named sampler with the pipeline's noise schedule."""
    import diffusers

    cls_name, extra = SAMPLERS[name]
    return getattr(diffusers, cls_name).from_config(pipe.scheduler.config, **extra)


def generate(
    pipe,
    prompts: Sequence[str],
    *,
    sampler_name: str = "dpm++2m-karras",
    steps: int = STEPS,
    guidance: float = GUIDANCE,
    seed: int = SEED,
):
    """One 24x24 PIL image per prompt, deterministic for given sampler, steps, guidance
    and seed (the training scheduler is restored afterwards)."""
    training = pipe.scheduler
    pipe.scheduler = sampler(pipe, sampler_name)
    try:
        return pipe(list(prompts), num_inference_steps=steps, guidance_scale=guidance, seed=seed)
    finally:
        pipe.scheduler = training


# --- the score: a pixel checker --------------------------------------------------------

WHITE = (255, 255, 255)
# A pixel takes the nearest of the palette colours and white, if within this RGB distance.
COLOUR_DISTANCE = 110.0
MIN_AREA = 12  # pixels of the named colour that count as a blob (the triangle has 50)
# The task's shapes are 10 pixels (ink: square 100, circle 80, triangle 50); pretraining's
# clip art is 6 pixels (36, 32, 18). A blob of at least this many pixels is of task size.
TASK_AREA = 42
MAX_SIDE = 14  # a blob wider or taller than this is not one shape in a 12-pixel quadrant
# Shape from the blob's own pixels: a triangle (apex up) holds about a quarter of its ink in
# the top half of its box (circle and square: half); a square fills its box, a circle ~78%.
TOP_SHARE_TRIANGLE = 0.38
FILL_SQUARE = 0.9


def classify_pixels(image) -> list[str | None]:
    """Each pixel's colour name ("white", a palette colour) or None (no colour near)."""
    palette = {**_generate().PALETTE, "white": WHITE}
    limit = COLOUR_DISTANCE**2
    out: list[str | None] = []
    raw = image.convert("RGB").tobytes()  # row-major RGB triples (getdata is deprecated in Pillow 13)
    for rgb in zip(raw[0::3], raw[1::3], raw[2::3], strict=True):
        name, best = None, limit
        for colour, ref in palette.items():
            d = sum((a - b) ** 2 for a, b in zip(rgb, ref, strict=True))
            if d <= best:
                name, best = colour, d
        out.append(name)
    return out


def _largest_blob(mask: list[bool], side: int) -> list[tuple[int, int]]:
    """The largest 4-connected component of `mask` (row-major, side x side), as (x, y)."""
    seen = [False] * len(mask)
    best: list[tuple[int, int]] = []
    for start in range(len(mask)):
        if not mask[start] or seen[start]:
            continue
        seen[start], stack, blob = True, [start], []
        while stack:
            i = stack.pop()
            x, y = i % side, i // side
            blob.append((x, y))
            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                j = ny * side + nx
                if 0 <= nx < side and 0 <= ny < side and mask[j] and not seen[j]:
                    seen[j] = True
                    stack.append(j)
        if len(blob) > len(best):
            best = blob
    return best


def describe_blob(blob: list[tuple[int, int]], side: int) -> dict[str, Any]:
    """Where a blob is (quadrant of its centroid) and which shape it looks like."""
    quadrants = _generate().QUADRANTS
    xs, ys = [p[0] for p in blob], [p[1] for p in blob]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
    half = side / 2
    top = sum(1 for y in ys if y < y0 + h / 2) / len(blob)
    fill = len(blob) / (w * h)
    if max(w, h) > MAX_SIDE:
        shape = None
    elif top < TOP_SHARE_TRIANGLE:
        shape = "triangle"
    elif fill >= FILL_SQUARE:
        shape = "square"
    else:
        shape = "circle"
    return {
        "position": quadrants[(cx >= half) + 2 * (cy >= half)],
        "shape": shape,
        "area": len(blob),
        "fill": fill,
        "top_share": top,
    }


def check(image, colour: str, shape: str, position: str | None = None) -> dict[str, bool]:
    """Does `image` show a `colour` `shape` (at `position`, a quadrant, if given)?

    Pixels are snapped to the nearest palette colour or white (within COLOUR_DISTANCE);
    the largest 4-connected blob of the named colour is the candidate. `colour`: it has
    at least MIN_AREA pixels. `size`: at least TASK_AREA (the task's 10-pixel shapes, not
    pretraining's 6-pixel ones). `shape`: its box is at most MAX_SIDE a side, and its ink
    is top-light (triangle), fills the box (square) or neither (circle). `position`
    (only when asked): its centroid lies in the named quadrant. `ok`: all checked parts.
    The suite's prompts name no position, so its score checks colour, size and shape.
    Not checked: other shapes or colours elsewhere in the image, the exact size, edges.
    """
    side = image.size[0]
    names = classify_pixels(image)
    blob = _largest_blob([n == colour for n in names], side)
    found = len(blob) >= MIN_AREA
    info = describe_blob(blob, side) if found else {}
    result = {
        "colour": found,
        "size": found and info["area"] >= TASK_AREA,
        "shape": found and info["shape"] == shape,
    }
    if position is not None:
        result["position"] = found and info["position"] == position
    result["ok"] = all(result.values())
    return result


def score(images: Sequence, records: Sequence[dict]) -> dict[str, float]:
    """Share of images passing the whole check (`image_check`, the suite's score: right
    colour, task size and right shape) and each part of it."""
    checks = [check(im, r["colour"], r["shape"], r.get("position")) for im, r in zip(images, records, strict=True)]
    n = len(checks)
    return {"image_check": sum(c["ok"] for c in checks) / n} | {
        part: sum(c[part] for c in checks) / n for part in checks[0] if part != "ok"
    }


# --- loading, quantization, LoRA --------------------------------------------------------


def load(path: Path, quantization: str | None = None):
    """A saved pipeline (diffusers' `from_pretrained` on the directory, local files only);
    `int8` / `nf4` replace the denoiser's linear layers with bitsandbytes' (see `quantize`)."""
    from imagine_pipeline import ShapesPipeline

    pipe = ShapesPipeline.from_pretrained(path, local_files_only=True)
    pipe.unet.eval()
    pipe.text_encoder.eval()
    if quantization is not None:
        quantize(pipe.unet, quantization)
    return pipe


def quantizable(unet) -> tuple[list[str], list[str]]:
    """The denoiser's linear layers bitsandbytes' CPU kernels take, and those it skips:
    layers whose in or out features are not multiples of 32 (its 4-bit packing), kept in
    float32 for both int8 and nf4 so that the two quantize the same layers. Convolutions
    are never quantized (bitsandbytes has no conv layers)."""
    import torch

    take, skip = [], []
    for name, m in unet.named_modules():
        if isinstance(m, torch.nn.Linear):
            (skip if m.in_features % 32 or m.out_features % 32 else take).append(name)
    return take, skip


def quantize(unet, quantization: str) -> list[str]:
    """Swap the quantizable linear layers for bitsandbytes' Linear8bitLt / Linear4bit (nf4,
    float32 compute) in place. diffusers' own BitsAndBytesConfig refuses to load without
    a GPU ("No GPU found"), so the suite uses bitsandbytes' modules directly, as
    transformers does for the other suites. Returns the skipped layers."""
    import bitsandbytes as bnb
    import torch

    take, skip = quantizable(unet)
    for name in take:
        parent_name, _, child = name.rpartition(".")
        parent = unet.get_submodule(parent_name) if parent_name else unet
        old = getattr(parent, child)
        bias = old.bias is not None
        if quantization == "int8":
            new = bnb.nn.Linear8bitLt(old.in_features, old.out_features, bias=bias, has_fp16_weights=False)
            new.weight = bnb.nn.Int8Params(old.weight.data.clone(), requires_grad=False, has_fp16_weights=False)
        elif quantization == "nf4":
            new = bnb.nn.Linear4bit(
                old.in_features, old.out_features, bias=bias, compute_dtype=torch.float32, quant_type="nf4"
            )
            new.weight = bnb.nn.Params4bit(old.weight.data.clone(), requires_grad=False, quant_type="nf4")
        else:
            raise ValueError(f"unknown quantization {quantization!r}")
        if bias:
            new.bias = torch.nn.Parameter(old.bias.data.clone(), requires_grad=False)
        new = new.to("cpu")  # bitsandbytes quantizes a layer's weight when it is moved
        setattr(parent, child, new)
    return skip


# LoRA on the denoiser's attention: self- and cross-attention projections of every
# transformer block (to_q, to_k, to_v, to_out.0); the text encoder stays frozen.
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
FINETUNE = dict(steps=150, batch_size=16, lr=5e-3, seed=0, drop_prompt=0.1, text_encoder=False)


def with_lora(pipe, r: int):
    """The pipeline with its denoiser wrapped in a peft LoRA model (B = 0: unchanged)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(FINETUNE["seed"])  # LoRA A matrices are random: same seed, same adapter
    config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=LORA_TARGETS)
    pipe.unet = get_peft_model(pipe.unet, config)
    return pipe


def trainable(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class ImagineVariant:
    """One text-to-image variant: which base, LoRA rank (None: used as is), quantization,
    sampler and step count. Not a `pytest_cegi.Variant`: `cegi.prepare` loads transformers
    models; a diffusers pipeline is loaded by `load()` (docs/variants.md)."""

    def __init__(
        self,
        name: str,
        size: str = "tiny",
        *,
        lora_r: int | None = None,
        quantization: str | None = None,
        sampler: str = "dpm++2m-karras",
        steps: int = STEPS,
        reference: bool = False,
    ):
        self.name, self.size, self.lora_r, self.quantization = name, size, lora_r, quantization
        self.sampler, self.steps, self.reference = sampler, steps, reference

    def __repr__(self) -> str:
        return self.name


# The main job's variants (8; about 4-5 s of sampling each, warm, on this machine): the
# base, LoRA, 4-bit, the larger denoiser, and on the LoRA adapter (one adapter: trained
# once, replayed for the others) the study's four samplers (DPM++ 2M Karras, the default,
# DDIM, Euler-a, LMS) and a second step count.
VARIANTS = [
    ImagineVariant("base", reference=True),
    ImagineVariant("lora-r8", lora_r=8),
    ImagineVariant("nf4", quantization="nf4"),
    ImagineVariant("large", "wide"),
    ImagineVariant("lora-r8-ddim", lora_r=8, sampler="ddim"),
    ImagineVariant("lora-r8-euler-a", lora_r=8, sampler="euler-a"),
    ImagineVariant("lora-r8-lms", lora_r=8, sampler="lms"),
    ImagineVariant("lora-r8-5-steps", lora_r=8, steps=5),
]
# The rest of the study's axes, for scripts/imagine_grid.py (not in the main job).
MORE_VARIANTS = [
    ImagineVariant("int8", quantization="int8"),
    ImagineVariant("lora-r8-20-steps", lora_r=8, steps=20),
]


def finetuned(path: Path, r: int = 8, seed: int | None = None):
    """The base at `path` with a LoRA adapter trained as the suite trains it (outside any
    measured window; for the scripts). `seed` overrides the fine-tuning seed."""
    import json

    generate = _generate()
    pipe = with_lora(load(path), r)
    with open(HERE / "data" / "imagine" / "train.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        row["image"] = generate.render_detection(row["scene"], side=generate.IMAGINE_PIXELS)
    settings = FINETUNE if seed is None else {**FINETUNE, "seed": seed}
    train(pipe, rows, **settings)
    return pipe
