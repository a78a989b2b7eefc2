"""Processor and tokenizer helpers that loading (variants.py) and training
(finetune.py) share, and `VariantError`, which both raise.

Kept apart so that finetune.py does not import variants.py, which imports it.
"""

from __future__ import annotations


class VariantError(ValueError):
    """A variant that cannot be loaded as described; the message names it."""


def is_processor(tokenizer) -> bool:
    return hasattr(tokenizer, "image_processor")


def text_tokenizer(tokenizer):
    """The text tokenizer of a processor (pad and EOS ids, decoding); a tokenizer itself."""
    return tokenizer.tokenizer if is_processor(tokenizer) else tokenizer


def vlm_prompt(processor, prompt: str) -> str:
    """A plain-text prompt with the image placeholder the processor expects: through its
    chat template (one user turn: the image, then the text) when it has one, else its
    image token before the text. A prompt that already holds the image token is kept."""
    token = getattr(processor, "image_token", None)
    if token and token in prompt:
        return prompt
    if getattr(processor, "chat_template", None):
        turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        return processor.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    if not token:
        raise VariantError(
            f"{type(processor).__name__} has neither a chat template nor an image token; "
            "put the image placeholder in the prompt yourself"
        )
    return f"{token}\n{prompt}"


def processor_inputs(processor, prompts: list[str], images: list):
    """Tensors for prompts with one image each, as generation and training both see them."""
    return processor(text=[vlm_prompt(processor, p) for p in prompts], images=images, return_tensors="pt", padding=True)


def load_image(image, what: str = "image"):
    """A PIL image from a PIL image, a path, or a `datasets` image dict (bytes or path)."""
    import io
    import os

    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, dict) and (image.get("bytes") or image.get("path")):
        image = io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"]
    elif not isinstance(image, (str, os.PathLike)):
        raise VariantError(f"{what}: expected a PIL image or a path, got {type(image).__name__}")
    try:
        with Image.open(image) as im:
            im.load()  # read now: the file is closed on leaving the block
            return im
    except (OSError, ValueError) as e:
        raise VariantError(f"{what}: cannot read {image!r}: {e}") from None
