"""Which transformers Auto class loads a model directory: causal LM, seq2seq, or
image-text-to-text (a vision-language model, told apart by its config)."""

from __future__ import annotations


def is_vision_language(config) -> bool:
    """An image-text-to-text model: its type is in transformers' mapping for that task,
    or (a remote-code or newer model) its config has a vision tower."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return (
        getattr(config, "model_type", None) in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        or getattr(config, "vision_config", None) is not None
    )


def model_class(vision: bool, seq2seq: bool):
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoModelForSeq2SeqLM

    if vision:
        return AutoModelForImageTextToText
    return AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
