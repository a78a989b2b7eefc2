"""Is the text-to-image suite's LoRA gain real? Fine-tune and sample with several seeds.

    python benchmarks/scripts/imagine_seeds.py [--seeds 0 1 2]

For each seed: the base sampled with that sampling seed, and LoRA r=8 fine-tuned with
that training seed (the suite's settings otherwise) and sampled with the same sampling
seed; prints the checker's score (and its parts) of both and the gap. One torch thread,
no measurement: about 1 minute per seed on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))


def main(argv=None) -> int:
    import cegi_imagine as ci
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    base_dir = HERE / "models" / "imagine-tiny"
    with open(HERE / "data" / "imagine" / "test.jsonl", encoding="utf-8") as f:
        test = [json.loads(line) for line in f if line.strip()]
    prompts = [r["prompt"] for r in test]
    print("seed | base image_check (colour/size/shape) | lora-r8 image_check (colour/size/shape) | gap")
    gaps = []
    for seed in a.seeds:
        base = ci.score(ci.generate(ci.load(base_dir), prompts, seed=seed), test)
        lora = ci.score(ci.generate(ci.finetuned(base_dir, 8, seed=seed), prompts, seed=seed), test)
        gaps.append(lora["image_check"] - base["image_check"])

        def parts(s: dict) -> str:
            return f"{s['image_check']:.3f} ({s['colour']:.2f}/{s['size']:.2f}/{s['shape']:.2f})"

        print(f"{seed} | {parts(base)} | {parts(lora)} | {gaps[-1]:+.3f}", flush=True)
    print(f"gap: min {min(gaps):+.3f}, mean {sum(gaps) / len(gaps):+.3f}, max {max(gaps):+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
