"""LoRA fine-tuning on prompt/completion records: a plain, deterministic loop.

A hand-written loop rather than `transformers.Trainer`: it is short, has no
hidden logging integrations, and every step it runs is charged to the caller's
`finetune` window. Loss is taken on completion tokens only.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class FinetuneSettings:
    """Defaults suit the tiny models of `pytest_cegi.tiny_models`; override per call."""

    epochs: float = 4.0            # passes over the training records
    max_steps: int | None = None   # caps the step count when set
    batch_size: int = 16
    lr: float = 1e-2               # for tiny models; use ~2e-4..1e-3 for 100M+ parameters
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_length: int = 128          # prompt + completion tokens, truncated from the left
    seed: int = 0
    progress: bool = field(default=True, compare=False)  # display only, not a cache input

    @classmethod
    def from_kwargs(cls, kw: dict) -> "FinetuneSettings":
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


def normalize_records(train: Any) -> list[dict]:
    """Accept a list of {"prompt", "completion"} dicts or a `datasets.Dataset`."""
    if hasattr(train, "column_names"):  # datasets.Dataset, without importing datasets
        missing = {"prompt", "completion"} - set(train.column_names)
        if missing:
            raise ValueError(f"training dataset lacks column(s) {sorted(missing)}")
        train = train.select_columns(["prompt", "completion"]).to_list()
    records = []
    for i, r in enumerate(train):
        if not isinstance(r, dict) or not {"prompt", "completion"} <= set(r):
            raise ValueError(f"training record {i} needs 'prompt' and 'completion' keys, got {r!r}")
        records.append({"prompt": str(r["prompt"]), "completion": str(r["completion"])})
    if not records:
        raise ValueError("training data is empty")
    return records


@dataclass
class FinetuneResult:
    steps: int
    losses: list[float]


def finetune(model, tokenizer, records: list[dict], settings: FinetuneSettings, *, seq2seq: bool) -> FinetuneResult:
    """Train the model's trainable parameters in place; leaves it in eval mode."""
    import torch

    torch.manual_seed(settings.seed)
    examples = [_encode(tokenizer, r, settings.max_length, seq2seq) for r in records]
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
            inputs = _collate([examples[i] for i in idx], tokenizer.pad_token_id, device)
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


def _encode(tokenizer, record: dict, max_length: int, seq2seq: bool) -> tuple[list[int], list[int]]:
    """Token ids as generation will see them: the prompt tokenized on its own."""
    eos = tokenizer.eos_token_id
    prompt = tokenizer(record["prompt"])["input_ids"]
    completion = tokenizer(record["completion"], add_special_tokens=False)["input_ids"] + [eos]
    if seq2seq:
        return prompt[-max_length:], completion[:max_length]
    ids = (prompt + completion)[-max_length:]
    n_prompt = max(0, len(ids) - len(completion))
    return ids, [-100] * n_prompt + ids[n_prompt:]


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
    split them (seq2seq: source and target; causal: one sequence, prompt masked)."""
    import torch

    def pad(rows, value):
        width = max(len(r) for r in rows)
        return torch.tensor([r + [value] * (width - len(r)) for r in rows], device=device)

    inputs = [s for s, _ in batch]
    return {"input_ids": pad(inputs, pad_id), "attention_mask": pad([[1] * len(s) for s in inputs], 0),
            "labels": pad([t for _, t in batch], -100)}


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="cegi finetune", unit="step", disable=not enabled, leave=False)
