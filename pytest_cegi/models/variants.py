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
import dataclasses
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

QUANTIZATIONS = (None, "int8", "nf4", "fp4")
DTYPES = ("float32", "float16", "bfloat16", "auto")


class VariantUnavailable(Exception):
    """This machine cannot run the variant (e.g. its quantization); callers skip it."""


class _Items(tuple):
    """A dict frozen as a tuple of (key, value) pairs; tells dicts from lists on thawing."""


def _freeze(value: Any) -> Any:
    """Make LoRA settings hashable: dicts become sorted item tuples, lists tuples."""
    if isinstance(value, dict):
        return _Items(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(_freeze(v) for v in value))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, _Items):
        return {k: _thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _lora_items(lora: Any) -> tuple:
    """A dict of LoraConfig arguments, or a LoraConfig: keep what differs from defaults."""
    if isinstance(lora, dict):
        return _freeze(lora)
    if dataclasses.is_dataclass(lora) and not isinstance(lora, type) and type(lora).__name__ == "LoraConfig":
        default = type(lora)()
        changed = {
            f.name: getattr(lora, f.name)
            for f in dataclasses.fields(lora)
            if f.init and getattr(lora, f.name) != getattr(default, f.name)
        }
        changed.pop("peft_type", None)
        return _freeze({k: v.value if hasattr(v, "value") else v for k, v in changed.items()})
    raise TypeError(f"lora must be a dict of LoraConfig arguments or a LoraConfig, got {type(lora).__name__}")


@dataclass(frozen=True)
class Variant:
    """One model variant under test: what it is built from (base model, adapter, LoRA,
    quantization) and whether it may be its task's reference (`reference`: True, False,
    or None for "the base variant is, when nothing is marked")."""

    name: str
    model: str  # local model directory, never a Hub id
    adapter: str | None = None  # saved peft adapter directory
    lora: Any = None  # dict of LoraConfig arguments or a LoraConfig; stored as tuple
    quantization: str | None = None  # None | "int8" | "nf4" | "fp4"
    dtype: str | None = None  # None = the checkpoint's own dtype
    reference: bool | None = None
    trust_remote_code: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise VariantError(f"variant name must be a non-empty string, got {self.name!r}")
        if self.lora is not None:
            try:
                object.__setattr__(self, "lora", _lora_items(self.lora))
            except TypeError as e:
                raise VariantError(f"variant {self.name!r}: {e}") from None
        if self.quantization not in QUANTIZATIONS:
            raise VariantError(
                f"variant {self.name!r}: unknown quantization {self.quantization!r}; "
                f"use one of {', '.join(map(str, QUANTIZATIONS))}"
            )
        if self.dtype is not None and self.dtype not in DTYPES:
            raise VariantError(f"variant {self.name!r}: unknown dtype {self.dtype!r}; use one of {DTYPES}")
        if self.adapter is not None and self.lora is not None:
            raise VariantError(f"variant {self.name!r}: give either a saved adapter or LoRA settings, not both")

    @property
    def is_base(self) -> bool:
        return self.adapter is None and self.lora is None and self.quantization is None

    @property
    def id(self) -> str:
        return self.name

    @property
    def lora_config(self) -> dict[str, Any] | None:
        """The LoRA settings as a plain dict of LoraConfig arguments."""
        return None if self.lora is None else _thaw(self.lora)

    def __str__(self) -> str:
        return self.name


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


# --- vision-language models -------------------------------------------------------


def is_vision_language(config) -> bool:
    """An image-text-to-text model: its type is in transformers' mapping for that task,
    or (a remote-code or newer model) its config has a vision tower."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return (
        getattr(config, "model_type", None) in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        or getattr(config, "vision_config", None) is not None
    )


# --- loading ----------------------------------------------------------------------

_bases: dict[tuple, tuple] = {}  # (dir, quantization, dtype, device, remote) -> (model, tokenizer, seq2seq)
_quant_probe: dict[tuple, str | None] = {}


def clear_base_cache() -> None:
    _bases.clear()


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_dir(variant: Variant) -> Path:
    path = Path(variant.model).expanduser()
    if not path.is_dir():
        # A relative path is read from the working directory, like open(): say which one.
        where = (
            ""
            if path.is_absolute()
            else (
                f" in the working directory {Path.cwd()} (relative paths are "
                "read from there, not from the test file or the rootdir; "
                "build them from __file__)"
            )
        )
        raise VariantError(
            f"variant {variant.name!r}: model directory {variant.model!r} does not exist{where} "
            "(pytest-cegi loads local directories only, never the Hub)"
        )
    if not (path / "config.json").is_file() and (path / "model_index.json").is_file():
        raise VariantError(
            f"variant {variant.name!r}: {variant.model!r} is a diffusers pipeline (model_index.json); "
            "cegi.prepare loads transformers models only. Load the pipeline in the test with diffusers' "
            "from_pretrained and measure it with cegi.measure_call (docs/variants.md, "
            '"Diffusers pipelines")'
        )
    if not (path / "config.json").is_file():
        raise VariantError(
            f"variant {variant.name!r}: {variant.model!r} has no config.json; is it a model saved with save_pretrained?"
        )
    return path


def quantization_problem(quantization: str, device: str) -> str | None:
    """Why bitsandbytes cannot run `quantization` on `device`, or None if it can."""
    key = (quantization, device)
    if key not in _quant_probe:
        _quant_probe[key] = _probe(quantization, device)
    return _quant_probe[key]


def _probe(quantization: str, device: str) -> str | None:
    try:
        import bitsandbytes as bnb
    except Exception as e:
        return f"bitsandbytes is not importable ({e}); install the model extra"
    try:
        import torch

        dense = torch.nn.Linear(64, 64)
        layer: torch.nn.Module
        if quantization == "int8":
            layer = bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False)
        else:
            layer = bnb.nn.Linear4bit(64, 64, quant_type=quantization, compute_dtype=torch.float32)
        layer.load_state_dict(dense.state_dict())
        layer = layer.to(device)
        layer(torch.randn(2, 64, device=device))
    except Exception as e:
        return f"bitsandbytes {getattr(bnb, '__version__', '?')} cannot run {quantization} on {device}: {e}"
    return None


def _torch_dtype(variant: Variant):
    import torch

    return "auto" if variant.dtype in (None, "auto") else getattr(torch, variant.dtype)


def _quant_config(variant: Variant, path: Path):
    import re

    import torch
    from transformers import BitsAndBytesConfig

    if variant.quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.float32 if variant.dtype in (None, "auto") else getattr(torch, variant.dtype)
    # Layers that bitsandbytes' packed CPU path rejects stay unquantized on every CPU, so
    # one nf4 model has one structure (and one score) whichever path runs it.
    kept, defaults = unquantized_modules(variant, path)
    skip = [re.escape(name) for name in sorted({*kept, *defaults})]
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=variant.quantization,
        bnb_4bit_compute_dtype=compute,
        llm_int8_skip_modules=skip or None,
    )


_unquantized: dict[tuple[str, bool], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def unquantized_modules(variant: Variant, path: Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(narrow, default) linear layers a 4-bit variant keeps in full precision: those the
    packed CPU kernels reject (`kernel_path.packable`), and transformers' own skips (the
    output embedding, tied weights), which naming any module would otherwise drop."""
    path = path or model_dir(variant)
    key = (str(path.resolve()), variant.trust_remote_code)
    if key not in _unquantized:
        import torch
        from accelerate import init_empty_weights
        from transformers import AutoConfig
        from transformers.quantizers.base import get_keys_to_not_convert

        from pytest_cegi.models import kernel_path

        config = AutoConfig.from_pretrained(path, trust_remote_code=variant.trust_remote_code, local_files_only=True)
        cls = _model_class(is_vision_language(config), bool(getattr(config, "is_encoder_decoder", False)))
        with init_empty_weights():  # names and shapes only: no memory, no weights read
            skeleton = cls.from_config(config, trust_remote_code=variant.trust_remote_code)
        defaults = tuple(sorted(get_keys_to_not_convert(skeleton)))
        narrow = tuple(
            name
            for name, module in skeleton.named_modules()
            if isinstance(module, torch.nn.Linear)
            and not kernel_path.packable(module.in_features, module.out_features)
            and not any(name == d or name.startswith(d + ".") for d in defaults)
        )
        _unquantized[key] = (narrow, defaults)
    return _unquantized[key]


def load_base(variant: Variant, device: str):
    """(model, tokenizer, seq2seq) for the variant's base, loaded once per process.

    The returned model is shared: callers that add adapters must copy it first.
    """
    path = model_dir(variant)
    key = (str(path.resolve()), variant.quantization, variant.dtype, device, variant.trust_remote_code)
    if key not in _bases:
        _bases[key] = _load(variant, path, device)
    return _bases[key]


class _DropInt8CastNotice:
    """bitsandbytes logs a warning on every int8 matmul with float32 inputs: the
    documented cast to float16, once per layer per call. Keep it out of test logs."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("MatMul8bitLt: inputs will be cast")


def _quiet_int8() -> None:
    import logging

    log = logging.getLogger("bitsandbytes.autograd._functions")
    if not any(isinstance(f, _DropInt8CastNotice) for f in log.filters):
        log.addFilter(_DropInt8CastNotice())


def _load(variant: Variant, path: Path, device: str):
    """(model, tokenizer, seq2seq); for a vision-language model the tokenizer is its processor."""
    from transformers import AutoConfig, AutoTokenizer

    remote = variant.trust_remote_code
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=remote, local_files_only=True)
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        vision = is_vision_language(config)
        cls = _model_class(vision, seq2seq)
        kw: dict = dict(trust_remote_code=remote, local_files_only=True, dtype=_torch_dtype(variant))
        if variant.quantization:
            kw.update(quantization_config=_quant_config(variant, path), device_map={"": device})
            if variant.quantization == "int8":
                _quiet_int8()
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


def _model_class(vision: bool, seq2seq: bool):
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoModelForSeq2SeqLM

    if vision:
        return AutoModelForImageTextToText
    return AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM


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


# --- parameter counting -----------------------------------------------------------


def logical_numel(param) -> int:
    """Parameters a tensor represents: a packed 4-bit weight counts its unpacked shape."""
    state = getattr(param, "quant_state", None)
    shape = getattr(state, "shape", None)
    if shape is not None:
        n = 1
        for d in shape:
            n *= int(d)
        return n
    return param.numel()


def count_parameters(model) -> tuple[int, int]:
    """(total, trainable) for any model; peft models report the adapter as trainable.

    Shared (tied) tensors count once. A model without an adapter is used as is:
    trainable is 0 (see the module docstring).
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += logical_numel(p)
    if hasattr(model, "peft_config"):
        from peft import get_peft_model_state_dict

        trainable = sum(t.numel() for t in get_peft_model_state_dict(model).values())
    else:
        trainable = 0
    return total, trainable


def describe(model, variant: Variant, *, cached: bool, steps: int) -> dict:
    total, trainable = count_parameters(model)
    rank = targets = None
    if hasattr(model, "peft_config"):
        cfg = next(iter(model.peft_config.values()))
        rank = getattr(cfg, "r", None)
        t = getattr(cfg, "target_modules", None)
        targets = sorted(t) if isinstance(t, (set, list, tuple)) else ([t] if t else None)
    dtype = getattr(model, "dtype", None) or next(model.parameters()).dtype
    device = str(next(model.parameters()).device)
    quantized: dict[str, Any] = {}
    if variant.quantization in ("nf4", "fp4"):
        from pytest_cegi.models import kernel_path

        # The numerics a score came from, and what stayed in full precision.
        quantized = {
            "kernel_path": kernel_path.current(device),
            "unquantized_modules": list(unquantized_modules(variant)[0]),
        }
    return {
        "total_params": int(total),
        "trainable_params": int(trainable),
        "quantization": variant.quantization,
        "lora_rank": rank,
        "lora_target_modules": targets,
        "dtype": str(dtype).removeprefix("torch."),
        "device": device,
        "cached": cached,
        "finetune_steps": steps,
        **quantized,
    }


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
