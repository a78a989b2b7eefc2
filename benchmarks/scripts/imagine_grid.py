"""Draw the text-to-image suite's image grid: a few test prompts x variants.

    python benchmarks/scripts/imagine_grid.py [OUT.png]   # default benchmarks/data/imagine/grid.png

Rows are variants (base, LoRA r=8 with each sampler and step count, int8, nf4, the
larger base), columns are prompts; every image is sampled as the suite samples it (its
sampler, steps, guidance 3, seed 0) and scaled 3x without smoothing. The first column
names the variant, the header the prompt. LoRA is fine-tuned here with the suite's
settings (deterministic: the same adapter the suite trains), outside any measurement.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

PROMPTS = [
    "a red square at the top left",
    "a blue circle at the bottom right",
    "a green triangle at the top right",
    "a yellow circle at the bottom left",
    "a red triangle at the bottom right",
    "a blue square at the top right",
]
SCALE, GAP, LABEL_W, HEAD_H = 3, 4, 112, 30


def main(argv=None) -> int:
    import cegi_imagine as ci
    import torch
    from PIL import Image, ImageDraw

    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else HERE / "data" / "imagine" / "grid.png"
    torch.set_num_threads(1)
    models = HERE / "models"
    lora = ci.finetuned(models / "imagine-tiny", 8)
    rows: list[tuple[str, list]] = []
    for v in ci.VARIANTS + ci.MORE_VARIANTS:
        pipe = lora if v.lora_r else ci.load(models / f"imagine-{v.size}", v.quantization)
        rows.append((v.name, ci.generate(pipe, PROMPTS, sampler_name=v.sampler, steps=v.steps)))
    cell = 24 * SCALE
    width = LABEL_W + len(PROMPTS) * (cell + GAP)
    height = HEAD_H + len(rows) * (cell + GAP)
    sheet = Image.new("RGB", (width, height), (160, 160, 160))
    draw = ImageDraw.Draw(sheet)
    for j, prompt in enumerate(PROMPTS):
        words = prompt.removeprefix("a ").split(" at the ")
        x = LABEL_W + j * (cell + GAP)
        draw.text((x, 2), words[0], fill=(0, 0, 0))
        draw.text((x, 15), words[1], fill=(0, 0, 0))
    for i, (name, images) in enumerate(rows):
        y = HEAD_H + i * (cell + GAP)
        draw.text((4, y + cell // 2 - 6), name, fill=(0, 0, 0))
        for j, image in enumerate(images):
            sheet.paste(image.resize((cell, cell), Image.NEAREST), (LABEL_W + j * (cell + GAP), y))
    sheet.quantize(64).save(out, optimize=True)  # 64 colours: ~40 KB to commit
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
