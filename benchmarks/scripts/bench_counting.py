"""What the work counter costs: a generate call counted against the same call uncounted.

The counting pass runs before every repeated window (`cegi.repeated()`,
`cegi.measure_call`), outside the measured runs, so it costs wall time, not measured
energy. This script measures, side by side and alternated in one process, for the
issue-21 workload (a 9.6M-parameter Llama built from a config: hidden 384, 4 layers;
16 prompts, 24 new tokens, greedy) at batch 16 and batch 1:

* the call uncounted;
* the call under pytest-cegi's work counter (FLOPs by class, bytes, dispatches,
  forward passes, fingerprint);
* the call under a FLOPs-only counter: the same dispatch mode with bytes, forward
  passes and the fingerprint left out, as pytest-cegi 0.2 counted (its baseline);
* the call under torch's own `FlopCounterMode` (FLOPs only, with module tracking), for
  reference.

It prints the median of `--rounds` alternated rounds and the ratios counted/uncounted.

    python benchmarks/scripts/bench_counting.py [--rounds 5] [--threads 1]

For the main job's own windows, `model_fidelity.py --main-job RUN.json` prints the
counting pass's time over the measured repeat's time for every window of a saved run.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _model():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=2000,
        hidden_size=384,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=6,
        num_key_value_heads=6,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval(), torch.randint(3, 2000, (16, 20))


def flops_only_counter():
    """pytest-cegi 0.2's counter, rebuilt for comparison: formulas and decomposition,
    no bytes, no dispatch count, no module hooks."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from pytest_cegi.measure.meters.flop_formulas import FlopCount, formula_table

    composite = torch._C.DispatchKey.CompositeImplicitAutograd
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    table, count, resolved = formula_table(), FlopCount(), {}

    class FlopsOnly(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            entry = resolved.get(id(func))
            if entry is None:
                formula = table.get(func._overloadpacket._qualified_op_name)
                entry = resolved[id(func)] = (formula, formula is None and has_kernel(func.name(), composite))
            formula, decomposable = entry
            if decomposable:
                with self:
                    r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
            out = func(*args, **kwargs)
            if formula is not None:
                formula(count, args, kwargs, out)
            return out

    return FlopsOnly()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from pytest_cegi.measure.work import counting

    if args.threads:
        torch.set_num_threads(args.threads)
    model, prompts = _model()

    def generate(batch: int) -> None:
        with torch.no_grad():
            for i in range(0, len(prompts), batch):
                ids = prompts[i : i + batch]
                mask = torch.ones_like(ids)
                model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=24, do_sample=False, pad_token_id=0)

    def timed(fn, batch: int, mode=None) -> float:
        started = time.perf_counter()
        if mode is None:
            fn(batch)
        else:
            with mode:
                fn(batch)
        return time.perf_counter() - started

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} alternated rounds, median")
    modes = {
        "work counter": counting,
        "FLOPs only (0.2)": flops_only_counter,
        "FlopCounterMode": lambda: FlopCounterMode(display=False),
    }
    print(f"{'batch':>5}  {'uncounted':>10}" + "".join(f"  {name:>18}  {'ratio':>6}" for name in modes))
    for batch in (16, 1):
        generate(batch)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in ("uncounted", *modes)}
        for _ in range(args.rounds):
            times["uncounted"].append(timed(generate, batch))
            for name, make in modes.items():
                times[name].append(timed(generate, batch, make()))
        plain = statistics.median(times["uncounted"])
        cells = "".join(
            f"  {statistics.median(times[n]):>17.3f}s  {statistics.median(times[n]) / plain:>5.2f}x" for n in modes
        )
        print(f"{batch:>5}  {plain:>9.3f}s{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
