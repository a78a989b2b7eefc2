"""Tiny language models trained from scratch, offline, in seconds.

Tests and benchmarks need real models but must never touch the Hub. This module
builds one: a byte-level BPE tokenizer trained on the given texts, a small Llama
(causal) or T5 (sequence-to-sequence) model trained on the same texts, both saved
with `save_pretrained` so they load like any local model directory.

`build_tiny_llava` builds a vision-language model (CLIP vision tower, Llama text model,
LLaVA processor) from configs alone, with random weights: nothing to train.

Builds are deterministic (fixed seeds, fixed data order) and cached under
`<cache_dir>/tiny-models/<name>-<key>/`, the key hashing every builder setting and
the texts, so a second call with the same inputs just returns the directory.

    python -m pytest_cegi.models.tiny_models demo            # the model the tests use
    python -m pytest_cegi.models.tiny_models causal --texts corpus.txt --size small
    python -m pytest_cegi.models.tiny_models llava           # the tiny vision-language model
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from pytest_cegi.models.demo_tasks import (  # re-exported: tests and docs import them from here
    COLOR_OF as COLOR_OF,
)
from pytest_cegi.models.demo_tasks import (
    colour_task as colour_task,
)
from pytest_cegi.models.demo_tasks import (
    demo_task as demo_task,
)
from pytest_cegi.models.demo_tasks import (
    demo_texts,
)
from pytest_cegi.models.demo_tasks import (
    exact_match as exact_match,
)

BUILDER_VERSION = 1  # bump when training code changes what a key produces
DONE_FILE = "cegi-tiny.json"

# Shapes for the paper's size axis. 64/128-wide layers are multiples that
# bitsandbytes' 8-bit and 4-bit CPU and CUDA kernels accept.
SIZES = {
    "tiny": dict(hidden=64, ffn=256, layers=2, heads=4, vocab=512),
    "small": dict(hidden=128, ffn=512, layers=4, heads=4, vocab=1024),
}


@dataclass(frozen=True)
class BuildSettings:
    kind: str = "causal"  # "causal" (Llama) or "seq2seq" (T5)
    size: str = "tiny"
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    max_length: int = 64
    seed: int = 0


def default_cache_dir() -> Path:
    """`$CEGI_CACHE_DIR` if set, else `.cegi-cache` in the working directory."""
    return Path(os.environ.get("CEGI_CACHE_DIR") or ".cegi-cache")


def _key(settings: BuildSettings | VisionBuildSettings, examples: Sequence) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": BUILDER_VERSION, **asdict(settings)}, sort_keys=True).encode())
    for ex in examples:
        h.update(json.dumps(ex).encode() + b"\n")
    return h.hexdigest()[:16]


def build_causal_lm(texts: Sequence[str], *, name: str = "causal", cache_dir=None, **settings) -> Path:
    """Train a tiny causal LM on `texts`; return its model directory."""
    return _build(list(texts), BuildSettings(kind="causal", **settings), name, cache_dir)


def build_seq2seq_lm(pairs: Sequence, *, name: str = "seq2seq", cache_dir=None, **settings) -> Path:
    """Train a tiny T5 on (source, target) pairs; a plain string is its own target."""
    pairs = [(p, p) if isinstance(p, str) else (p[0], p[1]) for p in pairs]
    return _build(pairs, BuildSettings(kind="seq2seq", **settings), name, cache_dir)


def _build(examples: list, settings: BuildSettings, name: str, cache_dir) -> Path:
    if settings.kind not in ("causal", "seq2seq"):
        raise ValueError(f"unknown model kind {settings.kind!r}; use 'causal' or 'seq2seq'")
    if settings.size not in SIZES:
        raise ValueError(f"unknown size {settings.size!r}; choose from {sorted(SIZES)}")
    if not examples:
        raise ValueError("need at least one training text")
    root = Path(cache_dir or default_cache_dir()) / "tiny-models"
    out = root / f"{name}-{settings.size}-{_key(settings, examples)}"

    def write(tmp: Path) -> dict:
        texts = [t for ex in examples for t in ((ex,) if isinstance(ex, str) else ex)]
        tokenizer = _train_tokenizer(texts, SIZES[settings.size]["vocab"])
        model = _new_model(settings, tokenizer)
        with _one_thread():
            loss = _train(model, tokenizer, examples, settings)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        return {
            "settings": asdict(settings),
            "final_loss": loss,
            "examples": len(examples),
            "params": sum(p.numel() for p in model.parameters()),
        }

    return _publish(out, write)


def _publish(out: Path, write) -> Path:
    """Build into a temporary sibling of `out` with `write(tmp) -> info`, then rename it
    into place; DONE_FILE, written last, marks a directory complete and reusable."""
    if (out / DONE_FILE).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        started = time.perf_counter()
        info = write(tmp)
        info["seconds"] = round(time.perf_counter() - started, 2)
        (tmp / DONE_FILE).write_text(json.dumps(info, indent=2))  # written last: marks complete
        if not (out / DONE_FILE).is_file():  # another process may have finished first
            shutil.rmtree(out, ignore_errors=True)  # a half-built leftover, never used
            try:
                os.rename(tmp, out)
            except OSError:
                if not (out / DONE_FILE).is_file():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@contextmanager
def _one_thread():
    """Tiny matrices gain nothing from threads; on a busy machine they lose a lot
    (4x measured on a shared 2-core box). One thread also makes builds identical
    whatever the core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE: any text round-trips, no unknown tokens, short sequences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        model_max_length=512,
    )


def _new_model(settings: BuildSettings, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    torch.manual_seed(settings.seed)
    s = SIZES[settings.size]
    ids = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if settings.kind == "causal":
        tokenizer.padding_side = "left"  # generation pads on the left for decoder-only models
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=s["hidden"],
            intermediate_size=s["ffn"],
            num_hidden_layers=s["layers"],
            num_attention_heads=s["heads"],
            num_key_value_heads=s["heads"],
            max_position_embeddings=256,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            **ids,
        )
        return LlamaForCausalLM(config)
    # T5Config's signature omits PreTrainedConfig keywords it still accepts at run time:
    # tie_word_embeddings, decoder_start_token_id.
    seq2seq_config = T5Config(  # type: ignore[call-arg]
        vocab_size=len(tokenizer),
        d_model=s["hidden"],
        d_ff=s["ffn"],
        d_kv=s["hidden"] // s["heads"],
        num_heads=s["heads"],
        num_layers=s["layers"],
        num_decoder_layers=s["layers"],
        feed_forward_proj="relu",
        dropout_rate=0.0,
        tie_word_embeddings=True,
        decoder_start_token_id=tokenizer.pad_token_id,
        **ids,
    )
    return T5ForConditionalGeneration(seq2seq_config)


def _train(model, tokenizer, examples: list, settings: BuildSettings) -> float:
    """Plain AdamW loop with linear decay; returns the mean loss of the last 20 steps."""
    import torch

    torch.manual_seed(settings.seed)
    order = random.Random(settings.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / settings.steps)
    eos = tokenizer.eos_token_id
    model.train()
    losses = []
    for _ in range(settings.steps):
        batch = [examples[order.randrange(len(examples))] for _ in range(settings.batch_size)]
        if settings.kind == "causal":
            seqs = [_ids(tokenizer, t, settings.max_length - 1) + [eos] for t in batch]
            inputs = _pad(seqs, tokenizer.pad_token_id)
            out = model(**inputs, labels=_labels(inputs))
        else:
            src = _pad([_ids(tokenizer, s, settings.max_length - 1) + [eos] for s, _ in batch], tokenizer.pad_token_id)
            tgt = _pad([_ids(tokenizer, t, settings.max_length - 1) + [eos] for _, t in batch], tokenizer.pad_token_id)
            out = model(**src, labels=_labels(tgt))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(out.loss.item())
    model.eval()
    tail = losses[-20:]
    return sum(tail) / len(tail)


def _ids(tokenizer, text: str, limit: int) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"][:limit]


def _pad(seqs: list[list[int]], pad_id: int) -> dict:
    """Right-pad for training (labels and masks line up with the tokens)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _labels(inputs: dict):
    return inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)


# --- a tiny vision-language model (LLaVA layout), random weights --------------------


@dataclass(frozen=True)
class VisionBuildSettings:
    """A CLIP vision tower and a Llama text model, both 64 wide (bitsandbytes' 8- and 4-bit
    kernels need such widths, and every linear layer of a quantized VLM is quantized)."""

    image_size: int = 16
    patch_size: int = 4  # (16 / 4)^2 = 16 image tokens per image
    hidden: int = 64
    vision_ffn: int = 128
    text_ffn: int = 256
    layers: int = 2  # in each of the two towers
    heads: int = 4
    chat_template: bool = True  # False: prompts get the bare image token instead
    seed: int = 0


IMAGE_TOKEN = "<image>"
# LLaVA-1.5's conversation layout ("USER: <image>\n... ASSISTANT:"), written for a
# character-level vocabulary; content may be a string or a list of typed items.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}{{ '<image>\\n' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ ' ' }}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build_tiny_llava(*, name: str = "llava", cache_dir=None, **settings) -> Path:
    """A LLaVA-style model with random weights and its processor; return its directory.

    Nothing is trained or downloaded: configs, a character-level tokenizer with an image
    token and a CLIP image processor, saved like any local checkpoint (under 1 MB, ~1 s).
    """
    s = VisionBuildSettings(**settings)
    if s.image_size % s.patch_size:
        raise ValueError(f"image_size {s.image_size} is not a multiple of patch_size {s.patch_size}")
    out = Path(cache_dir or default_cache_dir()) / "tiny-models" / f"{name}-{_key(s, ['llava'])}"

    def write(tmp: Path) -> dict:
        processor = _llava_processor(s)
        model = _new_llava(s, processor.tokenizer)
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        vision = sum(p.numel() for p in model.model.vision_tower.parameters())
        return {"settings": asdict(s), "params": sum(p.numel() for p in model.parameters()), "vision_params": vision}

    return _publish(out, write)


def _char_tokenizer(specials: Sequence[str]):
    """One token per printable ASCII character (plus newline): no training needed, and
    "red" and "blue" are short, distinct token sequences."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>", *specials, *chars])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()  # concatenate, no spaces between characters
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=512,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )


def _llava_processor(s: VisionBuildSettings):
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    # The PIL backend: the default (torchvision) one needs a package the model extra lacks.
    images = CLIPImageProcessorPil(
        size={"shortest_edge": s.image_size}, crop_size={"height": s.image_size, "width": s.image_size}
    )
    return LlavaProcessor(
        image_processor=images,
        tokenizer=_char_tokenizer([IMAGE_TOKEN]),
        patch_size=s.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token, dropped by "default"
        chat_template=LLAVA_CHAT_TEMPLATE if s.chat_template else None,
        image_token=IMAGE_TOKEN,
    )


def _new_llava(s: VisionBuildSettings, tokenizer):
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    ids = dict(
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )
    vision = CLIPVisionConfig(
        hidden_size=s.hidden,
        intermediate_size=s.vision_ffn,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        image_size=s.image_size,
        patch_size=s.patch_size,
        projection_dim=s.hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden,
        intermediate_size=s.text_ffn,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.heads,
        max_position_embeddings=256,
        **ids,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(s.image_size // s.patch_size) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        **ids,
    )
    torch.manual_seed(s.seed)
    return LlavaForConditionalGeneration(config)


def build_demo(size: str = "tiny", cache_dir=None, kind: str = "causal", **settings) -> Path:
    """The tiny model of the tests and benchmark, built on first use."""
    texts = demo_texts()
    if kind == "seq2seq":
        return build_seq2seq_lm(texts, name="demo-s2s", size=size, cache_dir=cache_dir, **settings)
    return build_causal_lm(texts, name="demo", size=size, cache_dir=cache_dir, **settings)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pytest_cegi.models.tiny_models", description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["demo", "causal", "seq2seq", "llava"])
    p.add_argument("--texts", help="UTF-8 file, one training text per line (seq2seq: source<TAB>target)")
    p.add_argument("--size", default="tiny", choices=sorted(SIZES))
    p.add_argument("--name", help="directory name prefix (default: the kind)")
    p.add_argument("--steps", type=int, default=BuildSettings.steps)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", help="default: $CEGI_CACHE_DIR or .cegi-cache")
    a = p.parse_args(argv)
    if a.kind == "demo":
        print(build_demo(a.size, a.cache_dir))
        return 0
    if a.kind == "llava":  # random weights: --size, --steps and --texts do not apply
        print(build_tiny_llava(name=a.name or "llava", cache_dir=a.cache_dir, seed=a.seed))
        return 0
    if not a.texts:
        p.error("--texts is required for causal and seq2seq")
    lines = [ln for ln in Path(a.texts).read_text(encoding="utf-8").splitlines() if ln.strip()]
    opts = dict(name=a.name or a.kind, cache_dir=a.cache_dir, size=a.size, steps=a.steps, seed=a.seed)
    if a.kind == "causal":
        print(build_causal_lm(lines, **opts))
    else:
        print(build_seq2seq_lm([tuple(ln.split("\t", 1)) if "\t" in ln else ln for ln in lines], **opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
