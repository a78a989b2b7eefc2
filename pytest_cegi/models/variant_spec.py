"""What a model variant is (`Variant`): a local model directory and what is built on it
(a saved adapter, LoRA settings, a quantization, a dtype). Imported at collection time:
no torch, transformers, peft or bitsandbytes here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cegi.models.processors import VariantError

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
