"""How much do the fine-tuned scores move with the seed? Prints base vs LoRA per task.

    python benchmarks/scripts/seed_spread.py [--seeds 0 1 2] [--variants lora-r4 lora-r16]

The benchmark itself is deterministic (fixed seeds, greedy decoding, one CPU thread:
the same run gives the same scores, cold or warm). This script re-runs the LoRA
fine-tuning with other seeds (LoRA initialisation and batch order) to show that the
gain over the base is far larger than that variation. Adapters go to the usual
adapter cache, so a second call is quick.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(key, "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

METRIC = {
    "summarize": ("rouge", {}),
    "sql": ("execution_accuracy", {"db": "sql/shop.sqlite"}),
    "translate": ("bleu", {}),
    "vqa": ("vqa_accuracy", {}),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=["lora-r4", "lora-r16"])
    p.add_argument("--tasks", nargs="+", default=list(METRIC))
    p.add_argument("--cache-dir", default=os.environ.get("CEGI_CACHE_DIR", ".cegi-cache"))
    a = p.parse_args(argv)

    import cegi_bench
    import torch

    from pytest_cegi import metrics
    from pytest_cegi.models import variants

    torch.set_num_threads(1)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    def score(task, handle):
        test = cegi_bench.records(task, "test")
        preds = handle.generate([r["prompt"] for r in test], max_new_tokens=cegi_bench.MAX_NEW_TOKENS[task])
        name, kw = METRIC[task]
        kw = {k: str(cegi_bench.DATA / v) for k, v in kw.items()}
        return metrics.compute(name, preds, [r["completion"].strip() for r in test], **kw).value

    print(
        f"{'task':10} {'variant':10} {'base':>7} {'seeds':>24} "
        f"{'mean':>7} {'spread':>7} {'gain':>7} {'gain/spread':>11}"
    )
    for task in a.tasks:
        by_name = {v.name: v for v in cegi_bench.variants_for(task)}
        base = score(task, variants.prepare(by_name["base"]))
        for name in a.variants:
            variant = by_name[name]
            values = []
            for seed in a.seeds:
                kw = cegi_bench.finetune_settings(task, seed=seed)
                handle = variants.prepare(variant, train=cegi_bench.records(task, "train"), cache_dir=a.cache_dir, **kw)
                values.append(score(task, handle))
            spread = max(values) - min(values)
            gain = statistics.fmean(values) - base
            ratio = f"{gain / spread:.1f}x" if spread else "inf"
            print(
                f"{task:10} {name:10} {base:7.4f} {' '.join(f'{v:.4f}' for v in values):>24} "
                f"{statistics.fmean(values):7.4f} {spread:7.4f} {gain:+7.4f} {ratio:>11}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
