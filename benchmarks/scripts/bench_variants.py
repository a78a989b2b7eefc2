"""Variants of one tiny model side by side: load, fine-tune, infer, score, CEGI.

Builds the demo model of `pytest_cegi.models.tiny_models` (offline, seconds), then for
each variant, in one process and one meter:

  load       wall time of loading (the base is reloaded for every variant here,
             so each pays its own load; inside a test session it loads once)
  finetune   time and energy of the `finetune` window (LoRA variants only)
  infer      time and energy of greedy generation over the test prompts
  score      exact match on the demo task ("... color of cat" -> "red")
  CEGI       E / (dP x T_M), E = finetune + inference emissions, dP in points
             over the base (the base scores 0, so relative gain is undefined)

The adapter cache is a fresh temporary directory unless --cache-dir is given;
--twice prepares every LoRA variant a second time to show cache hits (no
training, stored fine-tuning figures replayed and marked cached).

    python benchmarks/scripts/bench_variants.py [--size tiny|small] [--meter codecarbon|flops] [--twice]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import tempfile
import time
import warnings

QV = ["q_proj", "v_proj"]


def variants(path: str):
    from pytest_cegi.models.variants import Variant

    return [
        Variant("base", path, reference=True),
        Variant("int8", path, quantization="int8"),
        Variant("nf4", path, quantization="nf4"),
        Variant("lora-r4", path, lora={"r": 4, "lora_alpha": 8, "target_modules": QV}),
        Variant("lora-r8", path, lora={"r": 8, "lora_alpha": 16, "target_modules": QV}),
        Variant("lora-r8-nf4", path, lora={"r": 8, "lora_alpha": 16, "target_modules": QV}, quantization="nf4"),
    ]


class Recorder:
    """The two calls `variants.prepare` makes on the `cegi` fixture, over a bare meter."""

    def __init__(self, meter):
        self.meter = meter
        self.windows = []

    @contextlib.contextmanager
    def measure(self, phase: str):
        with self.meter.window(phase) as handle:
            yield handle
        self.windows.append(handle.result)

    def add_window(self, window):
        self.windows.append(window)

    def meter_identity(self):
        return self.meter.cache_identity()

    def replay_window(self, window):
        self.windows.append(dataclasses.replace(window, cached=True))


def make_meter(name: str):
    from pytest_cegi.core.settings import Settings

    carbon = Settings().carbon
    if name == "flops":
        from pytest_cegi.measure.meters.flops import FlopsMeter

        return FlopsMeter(carbon)
    from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter

    return CodecarbonMeter(carbon)


def run_one(variant, data, meter, cache_dir, max_new_tokens):
    from pytest_cegi.models import variants as vmod
    from pytest_cegi.models.tiny_models import exact_match

    vmod.clear_base_cache()  # every variant pays its own load, for a fair column
    rec = Recorder(meter)
    t0 = time.perf_counter()
    pv = vmod.prepare(variant, train=data["train"], recorder=rec, cache_dir=cache_dir, progress=False)
    prepare_s = time.perf_counter() - t0
    ft = next((w for w in rec.windows if w.phase == "finetune"), None)
    prompts = [r["prompt"] for r in data["test"]]
    with rec.measure("inference") as handle:
        preds = pv.generate(prompts, max_new_tokens=max_new_tokens)
    inf = handle.result
    for w in rec.windows:
        if w.invalid_reason:
            print(f"  ! {variant.name}: {w.invalid_reason}")
    return {
        "variant": variant,
        "meta": pv.metadata,
        "score": exact_match(preds, data["test"]),
        "load_s": prepare_s - (ft.duration_s if ft and not ft.cached else 0.0),
        "ft": ft,
        "inf": inf,
    }


def fmt_e(kwh):  # energy in J reads better than kWh at this scale
    return "-" if kwh is None else f"{kwh * 3.6e6:.2f}"


def report(rows, gain_mode="points"):
    from pytest_cegi.core.formula import cegi, gain_pct

    ref = next(r for r in rows if r["variant"].reference)
    print(
        f"\n{'variant':<13}{'total':>8}{'train':>8}{'load s':>8}{'ft s':>7}{'ft J':>8}{'ft steps':>9}"
        f"{'inf s':>7}{'inf J':>8}{'score':>7}{'dP pts':>8}{'E kg':>10}{'CEGI':>10}  cached"
    )
    for r in rows:
        meta, ft, inf = r["meta"], r["ft"], r["inf"]
        emissions = inf.emissions_kg + (ft.emissions_kg if ft else 0.0)
        gain = gain_pct(r["score"], ref["score"], mode=gain_mode)
        if r is ref:
            value = "ref"
        else:
            out = cegi(emissions, gain, meta["trainable_params"])
            value = f"{out.value:.2e}" if out.defined else "undef"
        print(
            f"{r['variant'].name:<13}{meta['total_params']:>8}{meta['trainable_params']:>8}"
            f"{r['load_s']:>8.2f}{(ft.duration_s if ft else 0):>7.2f}{fmt_e(ft.energy_kwh if ft else None):>8}"
            f"{meta['finetune_steps']:>9}{inf.duration_s:>7.2f}{fmt_e(inf.energy_kwh):>8}{r['score']:>7.2f}"
            f"{gain.value if gain.defined else float('nan'):>8.1f}{emissions:>10.2e}{value:>10}  "
            f"{'yes' if meta['cached'] else ''}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="tiny", choices=["tiny", "small"])
    p.add_argument("--meter", default="codecarbon", choices=["codecarbon", "flops"])
    p.add_argument("--cache-dir", help="adapter and model cache (default: a fresh temporary directory)")
    p.add_argument("--train", type=int, default=192, help="training records")
    p.add_argument("--test", type=int, default=128, help="test prompts")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: tiny matrices gain nothing from more, and a busy machine "
        "makes multi-threaded timings noisy)",
    )
    p.add_argument("--twice", action="store_true", help="prepare LoRA variants again: adapter cache hits")
    args = p.parse_args()
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # bitsandbytes' dtype casts and peft deprecations: noise here

    import torch

    from pytest_cegi.models.tiny_models import build_demo, demo_task

    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or tmp
        t0 = time.perf_counter()
        path = str(build_demo(args.size, cache_dir=cache_dir))
        print(f"demo model ({args.size}) ready in {time.perf_counter() - t0:.1f}s: {path}")
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, device "
            f"{'cuda' if torch.cuda.is_available() else 'cpu'}"
        )
        data = {"train": demo_task(args.train, seed=1), "test": demo_task(args.test, seed=2)}
        meter = make_meter(args.meter)
        all_variants = variants(path)
        rows = [run_one(v, data, meter, cache_dir, 4) for v in all_variants]
        method = next(r["inf"].method for r in rows)
        print(f"meter: {method.label()}; energy in joules")
        report(rows)
        if args.twice:
            print("\nsecond pass, same inputs (adapter cache hits replay the stored fine-tuning window):")
            again = [rows[0]] + [run_one(v, data, meter, cache_dir, 4) for v in all_variants if v.lora]
            report(again)
        meter.close()


if __name__ == "__main__":
    main()
