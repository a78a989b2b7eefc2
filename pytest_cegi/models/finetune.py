"""LoRA fine-tuning on prompt/completion records: a plain, deterministic loop.

A hand-written loop rather than `transformers.Trainer`: it is short, has no
hidden logging integrations, and every step it runs is charged to the caller's
`finetune` window. Loss is taken on completion tokens only (for a vision-language
model, the prompt's image tokens are prompt tokens: never in the loss).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class FinetuneSettings:
    """Defaults suit the tiny models of `pytest_cegi.models.tiny_models`; override per call."""

    epochs: float = 4.0  # passes over the training records
    max_steps: int | None = None  # caps the step count when set
    batch_size: int = 16
    lr: float = 1e-2  # for tiny models; use ~2e-4..1e-3 for 100M+ parameters
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_length: int = 128  # prompt + completion tokens, truncated from the left
    seed: int = 0
    progress: bool = field(default=True, compare=False)  # display only, not a cache input

    @classmethod
    def from_kwargs(cls, kw: dict) -> FinetuneSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kw) - known)
        if unknown:
            raise TypeError(f"unknown fine-tuning option(s) {unknown}; known: {sorted(known)}")
        return cls(**kw)

    def cache_dict(self) -> dict:
        """The settings that change the trained adapter (progress does not)."""
        d = asdict(self)
        d.pop("progress")
        return d

    def total_steps(self, n_records: int) -> int:
        per_epoch = -(-n_records // self.batch_size)
        steps = max(1, round(self.epochs * per_epoch))
        return min(steps, self.max_steps) if self.max_steps else steps


class ImageRef(str):
    """A record's image as the adapter cache sees it: a string naming a hash of its pixels
    (JSON-serializable, so the cache key follows image content, not object identity),
    with the image itself in `.image` for training."""

    image: Any

    def __new__(cls, image) -> ImageRef:
        digest = hashlib.sha256(f"{image.mode} {image.size}\n".encode() + image.tobytes()).hexdigest()
        ref = super().__new__(cls, f"image:sha256:{digest}")
        ref.image = image
        return ref


def normalize_records(train: Any) -> list[dict]:
    """Accept a list of {"prompt", "completion"} dicts, each maybe with an "image" (PIL image
    or path), or a `datasets.Dataset` with those columns."""
    if hasattr(train, "column_names"):  # datasets.Dataset, without importing datasets
        missing = {"prompt", "completion"} - set(train.column_names)
        if missing:
            raise ValueError(f"training dataset lacks column(s) {sorted(missing)}")
        columns = [c for c in ("prompt", "completion", "image") if c in train.column_names]
        # Iterating (not to_list) decodes image columns into PIL images.
        train = list(train.select_columns(columns))
    records = []
    for i, r in enumerate(train):
        if not isinstance(r, dict) or not {"prompt", "completion"} <= set(r):
            raise ValueError(f"training record {i} needs 'prompt' and 'completion' keys, got {r!r}")
        record = {"prompt": str(r["prompt"]), "completion": str(r["completion"])}
        if r.get("image") is not None:
            record["image"] = _image_ref(r["image"], i)
        records.append(record)
    if not records:
        raise ValueError("training data is empty")
    return records


def _image_ref(image: Any, index: int) -> ImageRef:
    from pytest_cegi.models.processors import load_image

    return image if isinstance(image, ImageRef) else ImageRef(load_image(image, f"training record {index}"))


@dataclass
class FinetuneResult:
    steps: int
    losses: list[float]


def finetune(model, tokenizer, records: list[dict], settings: FinetuneSettings, *, seq2seq: bool) -> FinetuneResult:
    """Train the model's trainable parameters in place; leaves it in eval mode."""
    import torch

    from pytest_cegi.models.processors import text_tokenizer

    torch.manual_seed(settings.seed)
    examples = [_encode(tokenizer, r, settings.max_length, seq2seq) for r in records]
    pad_id = text_tokenizer(tokenizer).pad_token_id
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    total = settings.total_steps(len(examples))
    warmup = max(1, int(settings.warmup_ratio * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min((i + 1) / warmup, max(0.0, (total - i) / max(1, total - warmup)))
    )
    device = next(p.device for p in params)
    batches = _batches(len(examples), settings.batch_size, total, settings.seed)
    bar = _progress(total, settings.progress)
    losses: list[float] = []
    model.train()
    try:
        for idx in batches:
            inputs = _collate([examples[i] for i in idx], pad_id, device)
            loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        model.eval()
    return FinetuneResult(steps=len(losses), losses=losses)


def _encode(tokenizer, record: dict, max_length: int, seq2seq: bool) -> tuple[list[int], list[int], dict]:
    """Token ids as generation will see them: the prompt tokenized on its own.

    Returns (input ids, labels, image inputs); image inputs are empty for text models.
    """
    from pytest_cegi.models.processors import is_processor

    if is_processor(tokenizer):
        return _encode_vlm(tokenizer, record, max_length)
    eos = tokenizer.eos_token_id
    prompt = tokenizer(record["prompt"])["input_ids"]
    completion = tokenizer(record["completion"], add_special_tokens=False)["input_ids"] + [eos]
    if seq2seq:
        return prompt[-max_length:], completion[:max_length], {}
    ids = (prompt + completion)[-max_length:]
    n_prompt = max(0, len(ids) - len(completion))
    return ids, [-100] * n_prompt + ids[n_prompt:], {}


# Per-token processor outputs, padded like input_ids (0 for completion and padding).
TOKEN_KEYS = ("token_type_ids", "mm_token_type_ids")


def _encode_vlm(processor, record: dict, max_length: int) -> tuple[list[int], list[int], dict]:
    """The prompt goes through the processor with its image, exactly as in `generate`
    (placeholder inserted and expanded to the image's tokens); the completion follows.

    The prompt is never cut: its image tokens must match the image features. When it
    does not fit in max_length, that is an error; the completion's end is cut instead.
    """
    from pytest_cegi.models.processors import processor_inputs, text_tokenizer

    tok = text_tokenizer(processor)
    enc = processor_inputs(processor, [record["prompt"]], [record["image"].image])
    prompt = enc.pop("input_ids")[0].tolist()
    enc.pop("attention_mask", None)
    room = max_length - len(prompt)
    if room < 1:
        raise ValueError(
            f"a training prompt with its image is {len(prompt)} tokens: no room for the completion "
            f"within max_length={max_length}; pass a larger max_length to prepare()"
        )
    completion = (tok(record["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[:room]
    extras = {k: (v[0].tolist() + [0] * len(completion) if k in TOKEN_KEYS else v) for k, v in enc.items()}
    return prompt + completion, [-100] * len(prompt) + completion, extras


def _batches(n: int, size: int, total: int, seed: int):
    """Shuffled epochs of index batches, `total` batches in all, same on every run."""
    rng = random.Random(seed)
    out: list[list[int]] = []
    while len(out) < total:
        order = list(range(n))
        rng.shuffle(order)
        out.extend(order[i : i + size] for i in range(0, n, size))
    return out[:total]


def _collate(batch, pad_id: int, device):
    """Right-padded inputs and labels; the same for both kinds, as `_encode` already
    split them (seq2seq: source and target; causal: one sequence, prompt masked).
    Image inputs (VLMs) are concatenated along their first axis (vision towers cast them
    to their own dtype), per-token ones padded."""
    import torch

    def pad(rows, value):
        width = max(len(r) for r in rows)
        return torch.tensor([r + [value] * (width - len(r)) for r in rows], device=device)

    inputs = [s for s, _, _ in batch]
    out = {
        "input_ids": pad(inputs, pad_id),
        "attention_mask": pad([[1] * len(s) for s in inputs], 0),
        "labels": pad([t for _, t, _ in batch], -100),
    }
    for key in batch[0][2]:
        values = [extras[key] for _, _, extras in batch]
        if key in TOKEN_KEYS:
            out[key] = pad(values, 0)
        else:
            out[key] = torch.cat(values).to(device)
    return out


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="cegi finetune", unit="step", disable=not enabled, leave=False)
