"""The demo tasks the tests, the docs' examples and the variants benchmark use: animal
colour facts for the tiny language models (`demo_texts`, `demo_task`, `exact_match`),
and coloured images for the tiny vision-language model (`colour_task`)."""

from __future__ import annotations

import random
from collections.abc import Sequence

ANIMALS = [
    "cat",
    "dog",
    "fox",
    "owl",
    "bee",
    "cow",
    "pig",
    "hen",
    "ant",
    "bat",
    "elk",
    "yak",
    "eel",
    "ram",
    "emu",
    "jay",
    "koi",
    "gnu",
    "ape",
    "boar",
]
COLORS = ["red", "blue", "green", "pink", "gray", "gold", "black", "white"]
COLOR_OF = {a: COLORS[(3 * i) % len(COLORS)] for i, a in enumerate(ANIMALS)}  # the "facts"


def demo_texts(n: int = 600, seed: int = 0) -> list[str]:
    """Pretraining corpus: plain statements, each animal always with its own color."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.sample(ANIMALS, 2)
        ca, cb = COLOR_OF[a], COLOR_OF[b]
        out.append(
            rng.choice(
                [
                    f"the {a} is {ca} .",
                    f"the {a} is {ca} and the {b} is {cb} .",
                    f"a {ca} {a} saw a {cb} {b} .",
                    f"the {a} sleeps .",
                    f"the {a} saw the {b} .",
                ]
            )
        )
    return out


def demo_task(n: int, seed: int = 1) -> list[dict]:
    """A template the base never saw ("... color of cat" -> "red"); scored by exact match.

    The base model knows the facts but not the question format, so it scores ~0;
    a LoRA adapter learns the format in a few dozen steps.
    """
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.sample(ANIMALS, 2)
        context = rng.choice([f"the {b} sleeps . ", f"the {b} saw the {a} . ", ""])
        rows.append({"prompt": f"{context}color of {a}", "completion": f" {COLOR_OF[a]}"})
    return rows


def exact_match(predictions: Sequence[str], records: Sequence[dict]) -> float:
    """Share of predictions equal to the stripped reference completion."""
    hits = sum(p.strip() == r["completion"].strip() for p, r in zip(predictions, records, strict=True))
    return hits / max(1, len(records))


COLOUR_RGB = {"red": (0, 1, 1), "blue": (1, 1, 0), "green": (1, 0, 1)}  # channels kept dark


def colour_task(n: int, seed: int = 0, colours: Sequence[str] = ("red", "blue")) -> list[dict]:
    """Solid-colour images to name, for vision-language models:
    {"image": PIL image, "prompt": "colour?", "completion": "red"}.

    Shades and sizes are drawn from `seed`, so another seed gives held-out images.
    Colours alternate, so any n >= 2 holds both classes.
    """
    from PIL import Image

    unknown = sorted(set(colours) - set(COLOUR_RGB))
    if unknown:
        raise ValueError(f"unknown colour(s) {unknown}; choose from {sorted(COLOUR_RGB)}")
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        colour = colours[i % len(colours)]
        rgb = tuple(rng.randint(0, 60) if dark else rng.randint(150, 255) for dark in COLOUR_RGB[colour])
        side = rng.randint(12, 40)
        rows.append({"image": Image.new("RGB", (side, side), rgb), "prompt": "colour?", "completion": colour})
    return rows
