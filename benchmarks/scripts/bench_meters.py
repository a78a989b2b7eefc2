"""Measured versus modelled energy: repeatability and cost of the flops meter.

One window of work (forward passes of a randomly initialised Llama built from a
config, no downloads) is measured 10 times by each meter, in one process:

  codecarbon  coefficient of variation (stdev / mean) of its energy over the repeats
  flops       the same (0 by construction: energy is a function of FLOP counts)
  overhead    median wall time of the window under the flops meter / unmeasured,
              for a tiny and a larger model (target: < 4x tiny, lower on larger)

    python benchmarks/scripts/bench_meters.py [--repeats 10] [--window-s 0.5] [--threads 1]

torch runs single-threaded by default here: on a small shared machine, intra-op
threads contending with other processes make wall times swing by 100x, which
says nothing about either meter. Pass --threads 0 for torch's default.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

MODELS = {
    # name: (hidden, intermediate, layers, heads, vocab, batch, tokens)
    "tiny": (64, 256, 2, 4, 512, 4, 32),
    "larger": (512, 2048, 6, 8, 8192, 4, 64),
}


def build(name):
    import torch
    import transformers

    hidden, inter, layers, heads, vocab, batch, tokens = MODELS[name]
    config = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max(128, tokens),
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, vocab, (batch, tokens), generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.no_grad():
            model(input_ids=ids)

    return forward


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def window_work(forward, window_s: float):
    """A window of `calls` forward passes lasting about window_s unmeasured."""
    for _ in range(5):  # first calls pay lazy initialisation
        forward()
    per_call = statistics.median(timed(forward) for _ in range(5))
    calls = max(1, round(window_s / per_call))

    def work():
        for _ in range(calls):
            forward()

    return work, calls


def energies(meter, work, repeats):
    out, times = [], []
    for _ in range(repeats):
        with meter.window("inference") as handle:
            work()
        w = handle.result
        if w.invalid_reason:
            raise SystemExit(f"{meter.name}: {w.invalid_reason}")
        out.append(w.energy_kwh)
        times.append(w.duration_s)
    return out, times


def cv(values) -> float:
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--window-s", type=float, default=0.5, help="unmeasured length of one window")
    parser.add_argument("--overhead-runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    logging.getLogger("codecarbon").setLevel(logging.ERROR)

    import os

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)

    from pytest_cegi.core.settings import Settings
    from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter
    from pytest_cegi.measure.meters.flops import FlopsMeter

    carbon = Settings().carbon
    cc, fl = CodecarbonMeter(carbon), FlopsMeter(carbon)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s) of {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; flops profile {fl.profile.label}"
    )

    forward = build("tiny")
    work, calls = window_work(forward, args.window_s)
    with cc.window("warm-up"):  # tracker start-up, once per process
        work()
    cc_e, cc_t = energies(cc, work, args.repeats)
    fl_e, fl_t = energies(fl, work, args.repeats)
    print(f"\nrepeatability: one window = {calls} forward passes of the tiny model, {args.repeats} repeats")
    print(f"{'meter':<12}{'mean energy (kWh)':>20}{'min':>12}{'max':>12}{'CV':>10}")
    for name, e in (("codecarbon", cc_e), ("flops", fl_e)):
        print(f"{name:<12}{statistics.fmean(e):>20.4e}{min(e):>12.4e}{max(e):>12.4e}{cv(e):>10.4%}")
    print(
        f"flops energies bit-identical: {len({x.hex() for x in fl_e}) == 1}; codecarbon labelled: {cc.method().label()}"
    )

    print(f"\nflops meter time overhead (median of {args.overhead_runs} paired runs, one window each)")
    print(f"{'model':<8}{'window (ms)':>14}{'under flops (ms)':>18}{'ratio':>8}{'GFLOP/window':>14}")
    for name in MODELS:
        fwd = build(name)
        w, _ = window_work(fwd, args.window_s if name == "tiny" else args.window_s * 2)
        bare, measured = [], []
        for _ in range(args.overhead_runs):  # interleaved: drift hits both alike
            bare.append(timed(w))
            with fl.window("inference") as h:
                w()
            measured.append(h.result.duration_s)
        b, m = statistics.median(bare), statistics.median(measured)
        print(f"{name:<8}{b * 1e3:>14.1f}{m * 1e3:>18.1f}{m / b:>7.2f}x{h.notes['flops_total'] / 1e9:>14.3f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
