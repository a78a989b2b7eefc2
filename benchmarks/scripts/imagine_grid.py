"""Draw the text-to-image suite's image grid: the test prompts x variants.

    python benchmarks/scripts/imagine_grid.py [OUT.png]   # default benchmarks/data/imagine/grid.png

Rows are variants (base, LoRA r=8 with each sampler and step count, int8, nf4, the
larger base), columns are the suite's 12 test prompts in its order; every row is sampled
as the suite samples it (one call over all test prompts, its sampler, steps, guidance 3,
seed 0), so the images are the ones the suite scores, scaled 3x without smoothing. A
green frame marks an image the checker passes, red one it fails; the first column names
the variant and its score. LoRA is fine-tuned here with the suite's settings
(deterministic: the same adapter the suite trains), outside any measurement.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

SCALE, GAP, FRAME, LABEL_W, HEAD_H = 3, 6, 2, 120, 30
PASS, FAIL = (40, 160, 40), (200, 40, 40)


def main(argv=None) -> int:
    import cegi_imagine as ci
    import torch
    from PIL import Image, ImageDraw

    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else HERE / "data" / "imagine" / "grid.png"
    torch.set_num_threads(1)
    models = HERE / "models"
    with open(HERE / "data" / "imagine" / "test.jsonl", encoding="utf-8") as f:
        test = [json.loads(line) for line in f if line.strip()]
    prompts = [r["prompt"] for r in test]
    lora = ci.finetuned(models / "imagine-tiny", 8)
    rows: list[tuple[str, list, list[bool]]] = []
    for v in ci.VARIANTS + ci.MORE_VARIANTS:
        pipe = lora if v.lora_r else ci.load(models / f"imagine-{v.size}", v.quantization)
        images = ci.generate(pipe, prompts, sampler_name=v.sampler, steps=v.steps)
        ok = [ci.check(im, r["colour"], r["shape"])["ok"] for im, r in zip(images, test, strict=True)]
        rows.append((v.name, images, ok))
    cell = 24 * SCALE
    pitch = cell + GAP
    width = LABEL_W + len(prompts) * pitch
    height = HEAD_H + len(rows) * pitch
    sheet = Image.new("RGB", (width, height), (160, 160, 160))
    draw = ImageDraw.Draw(sheet)
    for i, (_, images, ok) in enumerate(rows):
        y = HEAD_H + i * pitch
        for j, (image, passed) in enumerate(zip(images, ok, strict=True)):
            x = LABEL_W + j * pitch
            frame = (x - FRAME, y - FRAME, x + cell + FRAME - 1, y + cell + FRAME - 1)
            draw.rectangle(frame, fill=PASS if passed else FAIL)
            sheet.paste(image.resize((cell, cell), Image.NEAREST), (x, y))
    # 63 colours for the images (~80 KB to commit) and one kept black for the labels,
    # drawn after quantizing: the few text pixels would not earn a palette entry.
    small = sheet.quantize(63)
    small.putpalette(small.getpalette()[: 63 * 3] + [0, 0, 0])
    draw = ImageDraw.Draw(small)
    for j, prompt in enumerate(prompts):  # two lines: colour, shape
        colour, shape = prompt.removeprefix("a ").split()
        draw.text((LABEL_W + j * pitch, 2), colour, fill=63)
        draw.text((LABEL_W + j * pitch, 15), shape, fill=63)
    for i, (name, _, ok) in enumerate(rows):
        y = HEAD_H + i * pitch
        draw.text((4, y + cell // 2 - 12), name, fill=63)
        draw.text((4, y + cell // 2 + 2), f"{sum(ok)}/{len(ok)} pass", fill=63)
    small.save(out, optimize=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
