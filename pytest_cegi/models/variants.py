"""Model variants: what they are (`Variant`), how they load, what they count.

`Variant` is imported at collection time, so this module imports no torch,
transformers, peft or bitsandbytes at top level; `prepare` does, when a test
actually loads a model.

A model directory holds a causal LM, a seq2seq model or a vision-language model,
told apart by its config; a VLM loads with its processor, which stands in for the
tokenizer everywhere (`is_vision_language`, `vlm_prompt`).

Parameter counting (the `T_M` of CEGI = E / (dP x T_M)): `trainable_params` is
what was trained to make the variant, `total_params` what the model holds.
- LoRA / adapter variants: trainable = the adapter's parameters (trained now, replayed
  from the cache, or loaded with `adapter=`). A LoRA variant given no training data
  keeps that count, so its ceiling still applies and a fine-tune that silently did
  not happen fails ("no gain") instead of passing as "nothing trained".
- base, quantized and larger models used as they are: trainable = 0, so their CEGI
  is not applicable (dividing by all their parameters flattered models nobody
  trained). A user who fully fine-tuned a checkpoint declares it by setting
  `cegi.trainable_params` (e.g. to `metadata["total_params"]`).
- 4-bit weights count as the parameters they represent (the shape in their
  bitsandbytes quant_state), never as packed uint8 storage elements.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_cegi.models.auto_model import is_vision_language, model_class
from pytest_cegi.models.parameters import count_parameters, describe

# shared with finetune.py, which must not import this module (it imports finetune)
from pytest_cegi.models.processors import (
    VariantError,
    is_processor,
    load_image,
    processor_inputs,
    text_tokenizer,
)
from pytest_cegi.models.processors import (
    vlm_prompt as vlm_prompt,  # tests and users import it from here
)
from pytest_cegi.models.quantization import (
    quant_config,
    quantization_problem,
    quiet_int8,
    torch_dtype,
    unquantized_modules,
)
from pytest_cegi.models.variant_spec import DTYPES, QUANTIZATIONS, Variant, VariantUnavailable, model_dir


@dataclass
class PreparedVariant:
    """A loaded (maybe fine-tuned) variant, ready to generate."""

    variant: Variant
    model: Any
    tokenizer: Any
    metadata: dict
    seq2seq: bool = False
    finetune_losses: list = field(default_factory=list)
    # Told how many prompts each generate() call serves; the cegi fixture counts them
    # as requests of the window that is open at the time.
    on_requests: Any = None
    # Told how many tokens each generate() call read and wrote (prompt + new tokens).
    on_tokens: Any = None

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def vision(self) -> bool:
        """A vision-language model: its `tokenizer` is a processor with an image processor."""
        return is_processor(self.tokenizer)

    def generate(
        self, prompts: Iterable[str], images: Iterable | None = None, max_new_tokens: int = 32, batch_size: int = 32
    ) -> list[str]:
        """Batched greedy decoding; returns the completions only, stripped of whitespace.

        For a vision-language model, `images` gives one image (PIL image or path) per
        prompt, and each plain-text prompt gets the processor's image placeholder.
        Runs in the caller's measurement window, whatever that is.
        """
        import torch

        prompts = list(prompts)
        images = self._check_images(prompts, images)
        if self.on_requests is not None:
            self.on_requests(len(prompts))
        tok = text_tokenizer(self.tokenizer)
        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(prompts), batch_size):
                enc = self._inputs(prompts[i : i + batch_size], images and images[i : i + batch_size])
                ids = self.model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=tok.pad_token_id
                )
                if not self.seq2seq:  # decoder-only output repeats the (left-padded) prompt
                    ids = ids[:, enc["input_ids"].shape[1] :]
                if self.on_tokens is not None:  # a hardware-independent cost of the window
                    pad = tok.pad_token_id
                    self.on_tokens(int(enc["attention_mask"].sum()) + int((ids != pad).sum()))
                out.extend(t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True))
        return out

    def _check_images(self, prompts: list[str], images) -> list | None:
        """One image per prompt for a VLM, none for a text model; loaded as PIL images."""
        name, model = self.variant.name, self.variant.model
        if not self.vision:
            if images is not None:
                raise VariantError(f"variant {name!r}: images were given, but {model!r} is not a vision-language model")
            return None
        images = None if images is None else list(images)
        if images is None or len(images) != len(prompts):
            got = "no images" if images is None else f"{len(images)} image(s)"
            raise VariantError(
                f"variant {name!r}: the vision-language model {model!r} needs one image per "
                f"prompt; got {len(prompts)} prompt(s) and {got}"
            )
        missing = [i for i, im in enumerate(images) if im is None]
        if missing:
            raise VariantError(
                f"variant {name!r}: prompt(s) {missing} have no image; the vision-language "
                f"model {model!r} needs one image per prompt"
            )
        return [load_image(im, f"variant {name!r}: image {i}") for i, im in enumerate(images)]

    def _inputs(self, prompts: list[str], images: list | None):
        """Model inputs on the model's device (vision towers cast images to their dtype)."""
        if images is None:
            return self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        return processor_inputs(self.tokenizer, prompts, images).to(self.device)


# --- loading ----------------------------------------------------------------------

_bases: dict[tuple, tuple] = {}  # (dir, quantization, dtype, device, remote) -> (model, tokenizer, seq2seq)


def clear_base_cache() -> None:
    _bases.clear()


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_base(variant: Variant, device: str):
    """(model, tokenizer, seq2seq) for the variant's base, loaded once per process.

    The returned model is shared: callers that add adapters must copy it first.
    """
    path = model_dir(variant)
    key = (str(path.resolve()), variant.quantization, variant.dtype, device, variant.trust_remote_code)
    if key not in _bases:
        _bases[key] = _load(variant, path, device)
    return _bases[key]


def _load(variant: Variant, path: Path, device: str):
    """(model, tokenizer, seq2seq); for a vision-language model the tokenizer is its processor."""
    from transformers import AutoConfig, AutoTokenizer

    remote = variant.trust_remote_code
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=remote, local_files_only=True)
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        vision = is_vision_language(config)
        cls = model_class(vision, seq2seq)
        kw: dict = dict(trust_remote_code=remote, local_files_only=True, dtype=torch_dtype(variant))
        if variant.quantization:
            kw.update(quantization_config=quant_config(variant, path), device_map={"": device})
            if variant.quantization == "int8":
                quiet_int8()
        model = cls.from_pretrained(path, **kw)
        if not variant.quantization:
            model.to(device)
        if not vision:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=remote, local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise VariantError(f"variant {variant.name!r}: cannot load {str(path)!r}: {e}") from e
    if vision:
        tokenizer = _load_processor(variant, path)
    model.eval()
    text = text_tokenizer(tokenizer)
    if text.pad_token is None:
        text.pad_token = text.eos_token
    text.padding_side = "right" if seq2seq else "left"  # left: generation continues the prompt
    return model, tokenizer, seq2seq


def _load_processor(variant: Variant, path: Path):
    """A VLM's processor; any failure names the variant (processors fail in many ways, e.g.
    an AttributeError when one of their parts needs torchvision and it is missing)."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(
            path, trust_remote_code=variant.trust_remote_code, local_files_only=True
        )
    except Exception as e:
        raise VariantError(
            f"variant {variant.name!r}: cannot load the processor of the vision-language "
            f"model {str(path)!r}: {type(e).__name__}: {e}"
        ) from e
    if not is_processor(processor):
        raise VariantError(
            f"variant {variant.name!r}: {str(path)!r} is a vision-language model, but "
            f"AutoProcessor loaded a {type(processor).__name__} without an image processor"
        )
    return processor


def _lora_model(variant: Variant, base, seq2seq: bool, device: str, seed: int = 0):
    """A fresh LoRA model on a private copy of the shared base, initialized from `seed`."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    lora = variant.lora_config
    assert lora is not None, "_lora_model needs a LoRA variant"
    args = dict(lora)
    args.setdefault("task_type", "SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM")
    try:
        config = LoraConfig(**args)
    except (TypeError, ValueError) as e:
        raise VariantError(f"variant {variant.name!r}: invalid LoRA settings {args}: {e}") from None
    _check_targets(variant, base, config.target_modules)
    if variant.quantization:
        # A fresh load, not a copy: on CPU, bitsandbytes repacks 4-bit weights for
        # inference after the first eval forward, and gradients do not flow through
        # the repacked layers. Training is costlier than loading a model anyway.
        model = _load(variant, model_dir(variant), device)[0]
        # Casts norms to float32 and freezes the quantized weights; no checkpointing for small models.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model = copy.deepcopy(base)
    torch.manual_seed(seed)  # LoRA A matrices are random: same seed, same adapter
    try:
        return get_peft_model(model, config)
    except ValueError as e:
        raise VariantError(f"variant {variant.name!r}: {e}") from None


def _check_targets(variant: Variant, model, targets) -> None:
    """Name the variant and the real module names when a LoRA target does not exist."""
    import re

    if targets is None:
        return  # peft picks the architecture's defaults
    names = [n for n, _ in model.named_modules() if n]
    if isinstance(targets, str):
        if targets == "all-linear" or any(re.fullmatch(targets, n) for n in names):
            return
        missing = [targets]
    else:
        missing = sorted(t for t in targets if not any(n == t or n.endswith("." + t) for n in names))
    if missing:
        leaves = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__.startswith("Linear")}
            - {"lm_head"}
        )
        raise VariantError(
            f"variant {variant.name!r}: LoRA target module(s) {missing} not found in "
            f"{variant.model!r}; linear modules there: {leaves}"
        )


def _adapter_model(variant: Variant, base, path: str | Path, device: str):
    from peft import PeftModel

    p = Path(path).expanduser()
    if not (p / "adapter_config.json").is_file():
        raise VariantError(
            f"variant {variant.name!r}: adapter directory {str(path)!r} does not exist or has no adapter_config.json"
        )
    # A quantized base is loaded afresh, never copied: once the shared base has run,
    # bitsandbytes has repacked its 4-bit weights for CPU inference and a copy decodes
    # differently, so a cached adapter would score differently warm and cold.
    private = _load(variant, model_dir(variant), device)[0] if variant.quantization else copy.deepcopy(base)
    try:
        model = PeftModel.from_pretrained(private, p)
    except (OSError, ValueError, KeyError) as e:
        raise VariantError(f"variant {variant.name!r}: cannot load adapter {str(path)!r}: {e}") from e
    model.eval()
    return model


# --- prepare ----------------------------------------------------------------------


@contextmanager
def _unmeasured(phase: str):
    from pytest_cegi.core.window import WindowHandle

    yield WindowHandle(phase)


def prepare(
    variant: Variant, *, train=None, recorder=None, cache_dir=None, device: str | None = None, **finetune_kw
) -> PreparedVariant:
    """Load `variant`; fine-tune it first when it has LoRA settings and `train` data.

    Fine-tuning runs inside `recorder.measure("finetune")`. A trained adapter is
    cached; on a hit, the stored fine-tuning window is replayed with cached=True
    through `recorder.add_window` and no training step runs. Quantization that
    bitsandbytes cannot run here raises VariantUnavailable, naming the variant
    (the `cegi` fixture turns it into a skip).
    """
    from pytest_cegi.models import adapter_cache, finetune

    if not isinstance(variant, Variant):
        raise TypeError(f"prepare() needs a pytest_cegi.Variant, got {type(variant).__name__}")
    model_dir(variant)  # clear error before importing anything heavy
    try:
        settings = finetune.FinetuneSettings.from_kwargs(finetune_kw)
    except TypeError as e:
        raise VariantError(f"variant {variant.name!r}: {e}") from None
    device = device or default_device()
    if variant.quantization:
        problem = quantization_problem(variant.quantization, device)
        if problem:
            raise VariantUnavailable(
                f"variant {variant.name!r}: {variant.quantization} quantization unavailable: {problem}"
            )
    base, tokenizer, seq2seq = load_base(variant, device)
    if variant.lora is not None and train is not None:
        # Normalized once, here, before any training: images are read and hashed once
        # (normalizing again below keeps them), and a modality mismatch fails early.
        train = finetune.normalize_records(train)
        _check_train_images(variant, train, is_processor(tokenizer))

    if variant.adapter:
        model = _adapter_model(variant, base, variant.adapter, device)
        return PreparedVariant(variant, model, tokenizer, describe(model, variant, cached=False, steps=0), seq2seq)
    if variant.lora is None:
        return PreparedVariant(variant, base, tokenizer, describe(base, variant, cached=False, steps=0), seq2seq)
    if train is None:  # an untrained LoRA: B = 0, so it behaves as its base
        model = _lora_model(variant, base, seq2seq, device, settings.seed)
        model.eval()
        return PreparedVariant(variant, model, tokenizer, describe(model, variant, cached=False, steps=0), seq2seq)

    records = finetune.normalize_records(train)
    spec = {
        "lora": variant.lora_config,
        "quantization": variant.quantization,
        "dtype": variant.dtype,
        "seq2seq": seq2seq,
    }
    key = adapter_cache.cache_key(
        adapter_cache.model_fingerprint(model_dir(variant)), spec, records, settings.cache_dict()
    )
    cache = adapter_cache.AdapterCache(cache_dir or _default_cache_dir())
    entry = cache.lookup(key)
    identity = recorder.meter_identity() if recorder is not None else None
    stored = entry.window_for(identity) if entry is not None else None
    if entry is not None and (recorder is None or stored is not None):
        model = _adapter_model(variant, base, entry.path, device)
        if recorder is not None and stored is not None:
            recorder.replay_window(stored)
        meta = describe(model, variant, cached=True, steps=0)
        return PreparedVariant(variant, model, tokenizer, meta, seq2seq, list(entry.info.get("losses", [])))
    # No entry, or none measured by this meter: train (and measure) here. Training is
    # seeded, so the weights match any adapter already stored under this key.

    model = _lora_model(variant, base, seq2seq, device, settings.seed)
    measure = recorder.measure if recorder is not None else _unmeasured
    with measure("finetune") as window:
        result = finetune.finetune(model, tokenizer, records, settings, seq2seq=seq2seq)
    info = {"steps": result.steps, "losses": [round(x, 5) for x in result.losses], "variant": variant.name}
    cache.store(key, model, getattr(window, "result", None), info, identity)
    return PreparedVariant(
        variant, model, tokenizer, describe(model, variant, cached=False, steps=result.steps), seq2seq, result.losses
    )


def _check_train_images(variant: Variant, records: list[dict], vision: bool) -> None:
    """A VLM trains on records with images, a text model on records without."""
    with_image = [i for i, r in enumerate(records) if "image" in r]
    if vision and len(with_image) < len(records):
        missing = sorted(set(range(len(records))) - set(with_image))[:5]
        raise VariantError(
            f"variant {variant.name!r}: {variant.model!r} is a vision-language model; every "
            f"training record needs an 'image' (missing in record(s) {missing})"
        )
    if not vision and with_image:
        raise VariantError(
            f"variant {variant.name!r}: training record(s) {with_image[:5]} have an 'image', "
            f"but {variant.model!r} is not a vision-language model"
        )


def _default_cache_dir():
    from pytest_cegi.models.tiny_models import default_cache_dir

    return default_cache_dir()


# The public names, wherever they are defined: users and tests import them from here.
__all__ = [
    "DTYPES",
    "QUANTIZATIONS",
    "PreparedVariant",
    "Variant",
    "VariantError",
    "VariantUnavailable",
    "count_parameters",
    "default_device",
    "is_vision_language",
    "prepare",
    "quantization_problem",
    "unquantized_modules",
    "vlm_prompt",
]
