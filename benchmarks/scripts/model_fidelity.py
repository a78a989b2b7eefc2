"""Fidelity of the work model: does modelled energy move as measured energy does, and
does `pytest-cegi compare` flag the changes users make? (issue 21, "Fidelity, measured")

What it measures. A real generate test: a 9.6M-parameter Llama (hidden 384, 4 layers,
6 heads, vocab 3300; random weights from a fixed seed, built once into a temp dir with
a byte-level BPE tokenizer) loaded through `pytest_cegi.Variant` + `cegi.prepare`,
serving 16 prompts with 24 new tokens each, greedy, in one batch, through
`cegi.measure_call`. Each change of the corpus below (`CORPUS`) is injected into that
test and compared with the unchanged test (LoRA unmerged with the merged model).

How. Per change, alternated pytest sessions base, head, base, head, ... (default 3 a
side, `--cegi-repeat 5`: 15 measured repeats a side), each saved with `--cegi-save`.
- measured change: lowest repeat over all head sessions / lowest over all base
  sessions - 1 (attributed codecarbon energy);
- modelled change: head / base `modelled_energy_kwh` - 1 (checked identical across the
  sessions of one side: the model must be deterministic);
- FLOPs change: head / base `cost` - 1;
- flagged: `pytest-cegi compare` at default settings, first base session against first
  head session, exits 1 (which quantities regressed, and the configuration differences
  it reports, are shown);
- false alarms: the first two base sessions of each change compared the same way.

Output: a Markdown table on stdout (and `--markdown FILE`), then summary lines: how many
changes that measure 20 % costlier were flagged, by any rule and by modelled energy, and
the false alarms. `--from DIR` re-evaluates the run files an earlier invocation left in
DIR (`--keep DIR`) without running anything. The sessions import whatever `pytest_cegi`
this interpreter imports (set PYTHONPATH to pin an exported commit while others edit).

How long: each session starts pytest and torch (~10 s), runs one unmeasured counting pass
(~2.5x a repeat) and R measured repeats; the base repeat takes ~0.6 s on the 2-vCPU
guest, the slowest change (`use_cache=False`) ~5 s. The whole corpus at the defaults (90
sessions) took 26 min there; `--sessions 1 --repeats 1` of one change, under a minute.

    python benchmarks/scripts/model_fidelity.py [--sessions 3] [--repeats 5]
        [--changes batch-1,bf16,...] [--markdown FILE] [--keep DIR | --from DIR]

Second mode, cheap (it only reads a file): given a saved run of the main job
(`pytest benchmarks/ --cegi-repeat 3 --cegi-save RUNFILE`), print per test modelled
against measured energy of its inference windows, their Spearman rank correlation,
the range of modelled/measured ratios, and what the counting pass costs:

    python benchmarks/scripts/model_fidelity.py --main-job RUNFILE
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data"
MODEL = dict(hidden=384, ffn=1024, layers=4, heads=6, vocab=3300, seed=0)  # 9.6M parameters
PROMPTS = 16  # from the summarize suite's test set: 35-41 tokens each
NEW_TOKENS = 24
CHANGE_ENV, SIDE_ENV = "CEGI_FIDELITY_CHANGE", "CEGI_FIDELITY_SIDE"
LORA = dict(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
RISE = 0.20  # the target: every change that measures this much costlier is flagged


# -- the test's setup, and the corpus: one small function per change -------------------------


@dataclass
class Setup:
    """How the test loads its model and serves its prompts; a change edits one field."""

    variant: dict = field(default_factory=dict)  # Variant(...) arguments: dtype, quantization, lora
    cast: str | None = None  # torch dtype to cast the loaded weights to
    merge_lora: bool = False
    attn: str | None = None  # attention implementation to switch to (the model loads with sdpa)
    threads: int = 2  # torch intra-op threads (the guest's 2 vCPUs)
    batch_size: int = PROMPTS
    new_tokens: int = NEW_TOKENS
    pad_to: int | None = None  # pad every prompt to this many tokens
    generate_kw: dict = field(default_factory=dict)  # extra model.generate() arguments
    extra_calls: int = 0  # extra generate() calls, each on the first quarter of the prompts
    copy_weights: bool = False  # clone every parameter inside the measured call


def unchanged(s: Setup) -> None:
    pass


def batch_1(s: Setup) -> None:
    s.batch_size = 1


def bf16(s: Setup) -> None:
    s.variant["dtype"] = "bfloat16"


def eager_attention(s: Setup) -> None:
    s.attn = "eager"


def pad_to_48(s: Setup) -> None:
    s.pad_to = 48


def no_kv_cache(s: Setup) -> None:
    s.generate_kw["use_cache"] = False


def float64(s: Setup) -> None:
    s.cast = "float64"


def beams_2(s: Setup) -> None:
    s.generate_kw["num_beams"] = 2


def tokens_30(s: Setup) -> None:
    s.new_tokens = 30


def tokens_plus_25(s: Setup) -> None:
    s.new_tokens = round(NEW_TOKENS * 1.25)


def calls_plus_25(s: Setup) -> None:
    s.extra_calls = 1  # a second generate() call serving the first 4 of the 16 prompts again


def copy_weights(s: Setup) -> None:
    s.copy_weights = True


def lora_merged(s: Setup) -> None:
    s.variant["lora"] = LORA
    s.merge_lora = True


def lora_unmerged(s: Setup) -> None:
    s.variant["lora"] = LORA


def int8(s: Setup) -> None:
    s.variant["quantization"] = "int8"


def nf4(s: Setup) -> None:
    s.variant["quantization"] = "nf4"


def threads_1(s: Setup) -> None:
    s.threads = 1


@dataclass(frozen=True)
class Change:
    key: str  # for --changes
    label: str  # for the table
    head: Callable[[Setup], None]
    base: Callable[[Setup], None] = unchanged


CORPUS = (
    Change("batch-1", "batch size 16 -> 1", batch_1),
    Change("bf16", "fp32 -> bf16 weights", bf16),
    Change("eager", "attention sdpa -> eager", eager_attention),
    Change("pad-48", "pad every prompt to 48 tokens", pad_to_48),
    Change("no-cache", "`use_cache=False`", no_kv_cache),
    Change("fp64", "float64 weights", float64),
    Change("beams-2", "beam search (2 beams)", beams_2),
    Change("tokens-30", "30 new tokens instead of 24", tokens_30),
    Change("tokens-25", "+25 % new tokens (24 -> 30: the change above, run again)", tokens_plus_25),
    Change("calls-25", "+25 % generate calls (a 2nd call on 4 of the 16 prompts)", calls_plus_25),
    Change("copy-weights", "a copy of the weights on every call", copy_weights),
    Change("lora", "LoRA r=8 unmerged vs merged", lora_unmerged, base=lora_merged),
    Change("int8", "int8 vs fp32", int8),
    Change("nf4", "nf4 vs fp32", nf4),
    Change("threads-1", "torch threads 2 -> 1", threads_1),
)
BY_KEY = {c.key: c for c in CORPUS}


def setup_for(key: str, side: str) -> Setup:
    """The setup of one side ("base" or "head") of a change."""
    setup = Setup()
    change = BY_KEY[key]
    (change.head if side == "head" else change.base)(setup)
    return setup


# -- inside the pytest session: the test itself ----------------------------------------------

TEST_FILE = """
import importlib.util, os, sys

import pytest

spec = importlib.util.spec_from_file_location("model_fidelity", {script!r})
fidelity = sys.modules.setdefault("model_fidelity", importlib.util.module_from_spec(spec))
spec.loader.exec_module(fidelity)


@pytest.mark.cegi(task="fidelity")
def test_generate(cegi):
    fidelity.run_test(cegi, {model!r}, os.environ[{change_env!r}], os.environ[{side_env!r}])
"""


def run_test(cegi, model_dir: str, key: str, side: str) -> None:
    """The generate test, with one side of one change applied."""
    import torch

    from pytest_cegi import Variant

    setup = setup_for(key, side)
    torch.set_num_threads(setup.threads)
    handle = cegi.prepare(Variant(side, model_dir, **setup.variant))
    adjust_model(handle, setup)
    prompts = load_prompts()
    out = cegi.measure_call(serve, handle, prompts, setup)
    cegi.record_score(len(out) / (len(prompts) + setup.extra_calls * len(prompts) // 4))


def adjust_model(handle, setup: Setup) -> None:
    import torch

    if setup.merge_lora:
        handle.model = handle.model.merge_and_unload()
    if setup.cast:
        handle.model.to(getattr(torch, setup.cast))
    if setup.attn:
        handle.model.set_attn_implementation(setup.attn)


def serve(handle, prompts: list[str], setup: Setup) -> list[str]:
    """The measured work: 16 prompts, and whatever the change adds."""
    if setup.copy_weights:
        import torch

        with torch.no_grad():
            copies = [p.clone() for p in handle.model.parameters()]
        del copies
    out = generate(handle, prompts, setup)
    for _ in range(setup.extra_calls):
        out += generate(handle, prompts[: len(prompts) // 4], setup)
    return out


def generate(handle, prompts: list[str], setup: Setup) -> list[str]:
    """`handle.generate`, or its loop with what it does not take (padding, generate() kwargs)."""
    if setup.pad_to is None and not setup.generate_kw:
        return handle.generate(prompts, max_new_tokens=setup.new_tokens, batch_size=setup.batch_size)
    import torch

    tok = handle.tokenizer
    padding = {"padding": "max_length", "max_length": setup.pad_to} if setup.pad_to else {"padding": True}
    handle.on_requests(len(prompts))
    out: list[str] = []
    with torch.inference_mode():
        for i in range(0, len(prompts), setup.batch_size):
            enc = tok(prompts[i : i + setup.batch_size], return_tensors="pt", **padding)
            ids = handle.model.generate(
                **enc,
                max_new_tokens=setup.new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                **{"num_beams": 1, **setup.generate_kw},
            )[:, enc["input_ids"].shape[1] :]
            handle.on_tokens(int(enc["attention_mask"].sum()) + int((ids != tok.pad_token_id).sum()))
            out.extend(t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True))
    return out


def load_prompts() -> list[str]:
    with open(DATA / "summarize" / "test.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["prompt"] for line in f if line.strip()][:PROMPTS]


# -- the model, built once -------------------------------------------------------------------


def build_model(dest: Path) -> Path:
    """A random-weight Llama and a BPE tokenizer trained on the benchmark corpora, topped up
    with placeholder tokens to the model's vocabulary. No EOS: every sequence generates all
    its new tokens, so the work is the same whatever the weights decode to."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from pytest_cegi.models.tiny_models import _train_tokenizer

    texts = []
    for path in sorted(DATA.glob("*/pretrain.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts += [r.get("text") or f"{r.get('prompt', '')}{r.get('completion', '')}" for r in rows]
    tokenizer = _train_tokenizer(texts, MODEL["vocab"])
    tokenizer.add_tokens([f"<unused{i}>" for i in range(MODEL["vocab"] - len(tokenizer))])
    tokenizer.padding_side = "left"
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=MODEL["hidden"],
        intermediate_size=MODEL["ffn"],
        num_hidden_layers=MODEL["layers"],
        num_attention_heads=MODEL["heads"],
        num_key_value_heads=MODEL["heads"],
        max_position_embeddings=256,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=None,
    )
    torch.manual_seed(MODEL["seed"])
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = None
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def write_project(work: Path) -> Path:
    """A folder holding the model and the test file; pytest runs there."""
    project = work / "project"
    project.mkdir(parents=True, exist_ok=True)
    model = build_model(work / "model")
    test = TEST_FILE.format(
        script=str(Path(__file__).resolve()), model=str(model), change_env=CHANGE_ENV, side_env=SIDE_ENV
    )
    (project / "test_fidelity.py").write_text(test)
    return project


# -- sessions and their comparison -----------------------------------------------------------


def session(project: Path, key: str, side: str, repeats: int, out: Path) -> None:
    """One pytest session of one side of a change, saved to `out`."""
    env = dict(
        os.environ,
        **{CHANGE_ENV: key, SIDE_ENV: side},
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
    )
    cmd = [sys.executable, "-m", "pytest", "test_fidelity.py", "-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
    cmd += [f"--cegi-repeat={repeats}", f"--cegi-save={out}", "--cegi-carbon-intensity=475"]
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{key} {side} session failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def compare_runs(base: Path, head: Path) -> dict:
    """`pytest-cegi compare` at default settings: exit code, status, what regressed, config diffs."""
    cmd = [sys.executable, "-m", "pytest_cegi.cli", "compare", str(base), str(head), "--format", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"pytest-cegi compare failed ({done.returncode}):\n{done.stderr[-3000:]}")
    record = json.loads(done.stdout)["records"][0]
    regressed = sorted(q for q, d in record["deltas"].items() if d.get("status") == "regression")
    return {
        "flagged": done.returncode == 1 or record["status"] == "regression",
        "regressed": regressed,
        "configuration": record.get("configuration", []),
    }


def record_of(run: dict) -> dict:
    (record,) = run["records"]
    return record


def lowest_repeat(runs: list[dict]) -> float:
    return min(s for run in runs for w in record_of(run)["windows"] for s in (w["samples"] or [w["energy_kwh"]]))


def repeats_in(runs: list[dict]) -> int:
    return sum(len(w["samples"]) or 1 for run in runs for w in record_of(run)["windows"])


def one_value(runs: list[dict], key: str, what: str) -> float:
    """The record's `key`, which must be identical in every session of one side."""
    values = [record_of(run)[key] for run in runs]
    if len(set(values)) > 1:
        print(f"WARNING {what}: {key} differs across sessions of one side: {values}", file=sys.stderr)
    return values[0]


def run_sessions(project: Path, change: Change, sessions: int, repeats: int, work: Path) -> dict[str, list[Path]]:
    """Alternated sessions of one change: base, head, base, head, ..."""
    runs: dict[str, list[Path]] = {"base": [], "head": []}
    for i in range(sessions):
        for side in ("base", "head"):
            out = work / f"{change.key}-{side}-{i}.json"
            started = time.perf_counter()
            session(project, change.key, side, repeats, out)
            runs[side].append(out)
            print(f"  {change.key} {side} {i + 1}/{sessions}: {time.perf_counter() - started:.0f} s", flush=True)
    return runs


def saved_sessions(work: Path, change: Change) -> dict[str, list[Path]]:
    """The run files an earlier invocation left in `work` (--from)."""
    runs = {
        side: sorted(work.glob(f"{change.key}-{side}-*.json"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        for side in ("base", "head")
    }
    if not runs["base"] or len(runs["base"]) != len(runs["head"]):
        sys.exit(
            f"{work}: no complete set of {change.key} sessions ({len(runs['base'])} base, {len(runs['head'])} head)"
        )
    return runs


def evaluate(change: Change, runs: dict[str, list[Path]]) -> dict:
    """What the sessions of one change show."""
    base, head = ([json.loads(p.read_text()) for p in runs[side]] for side in ("base", "head"))
    result = {
        "key": change.key,
        "label": change.label,
        "measured": lowest_repeat(head) / lowest_repeat(base) - 1,
        "modelled": side_ratio(head, base, "modelled_energy_kwh", change.key),
        "flops": side_ratio(head, base, "cost", change.key),
        "modelled_by": record_of(base[0]).get("modelled_by"),
        "repeats": [repeats_in(base), repeats_in(head)],
        "sessions": len(base),
        **compare_runs(runs["base"][0], runs["head"][0]),
    }
    if len(base) >= 2:
        result["false_alarm"] = compare_runs(runs["base"][0], runs["base"][1])
    return result


def side_ratio(head: list[dict], base: list[dict], key: str, what: str) -> float | None:
    """head / base - 1 of a record figure that each side must hold identical."""
    h, b = one_value(head, key, f"{what} head"), one_value(base, key, f"{what} base")
    return None if h is None or not b else h / b - 1


# -- output ----------------------------------------------------------------------------------


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f} %"


def table(results: list[dict]) -> str:
    head = ["change", "measured", "modelled", "FLOPs", "flagged", "runs behind the measured figure", "configuration"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        flagged = f"yes ({', '.join(r['regressed']) or 'error'})" if r["flagged"] else "no"
        runs = f"{r['repeats'][0]} + {r['repeats'][1]} repeats ({r['sessions']} + {r['sessions']} sessions)"
        config = "; ".join(r["configuration"]) or "none"
        cells = [r["label"], pct(r["measured"]), pct(r["modelled"]), pct(r["flops"]), flagged, runs, config]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


MODELLED = frozenset({"modelled_energy", "modelled_emissions"})


def summary(results: list[dict]) -> str:
    """Detection of the changes that measure 20 % costlier, and false alarms, by any rule
    of the gate and by the modelled rules alone (measured energy is noisy on a shared guest)."""
    rising = [r for r in results if r["measured"] >= RISE]
    by_model = [r for r in rising if MODELLED & set(r["regressed"])]
    missed = [r["key"] for r in rising if not r["flagged"]]
    lines = [
        f"Flagged {sum(r['flagged'] for r in rising)} of {len(rising)} changes whose measured energy rose "
        f"{RISE:.0%} or more ({len(by_model)} by modelled energy; target: 8 of 10 or better)"
        f"{'; missed: ' + ', '.join(missed) if missed else ''}.",
        false_alarms(results),
    ]
    labels = sorted({r["modelled_by"] for r in results if r.get("modelled_by")})
    lines.append(f"Modelled by: {'; '.join(labels) or 'nothing (no counted work)'}.")
    return "\n".join(lines) + "\n"


def false_alarms(results: list[dict]) -> str:
    checked = [r for r in results if "false_alarm" in r]
    if not checked:
        return "False alarms: not checked (needs --sessions 2 or more)."
    alarms = {r["key"]: r["false_alarm"]["regressed"] for r in checked if r["false_alarm"]["flagged"]}
    modelled = [k for k, q in alarms.items() if MODELLED & set(q)]
    text = (
        f"False alarms (first two base sessions of each change): {len(modelled)} of {len(checked)} by modelled energy"
    )
    if alarms:
        listed = ", ".join(f"{k} ({', '.join(q) or 'error'})" for k, q in alarms.items())
        text += f"; {len(alarms)} of {len(checked)} by any rule: {listed}"
    return text + "."


# -- the main job's run: modelled against measured, and the counting overhead ---------------


def main_job(path: Path) -> str:
    from scipy.stats import spearmanr

    run = json.loads(path.read_text())
    rows, overheads, skipped = [], [], Counter()
    counting_total = measured_total = 0.0
    for record in run["records"]:
        windows = [w for w in record.get("windows", []) if w["phase"] == "inference"]
        skipped.update(w["phase"] for w in record.get("windows", []) if w["phase"] != "inference")
        if not windows or any(w.get("modelled_energy_kwh") is None for w in windows):
            continue
        measured = sum(min(w["samples"] or [w["energy_kwh"]]) for w in windows)
        modelled = sum(w["modelled_energy_kwh"] for w in windows)
        rows.append((record["nodeid"], modelled, measured))
        for w in windows:
            counting = (w.get("details") or {}).get("counting_s")
            if counting is not None and w["duration_s"] > 0:
                overheads.append(counting / w["duration_s"])
                counting_total += counting
                measured_total += w["duration_s"]
    if len(rows) < 2:
        return f"{path}: fewer than 2 tests with modelled inference energy; nothing to correlate\n"
    rho = spearmanr([r[1] for r in rows], [r[2] for r in rows]).statistic
    ratios = [m / e for _, m, e in rows if e > 0]
    out = ["| test | modelled (Wh) | measured (Wh) | modelled / measured |", "|---|---|---|---|"]
    out += [f"| {n} | {m * 1000:.4g} | {e * 1000:.4g} | {m / e:.2f} |" for n, m, e in rows if e > 0]
    within = sum(0.5 <= r <= 2 for r in ratios)
    out += [
        "",
        f"{len(rows)} tests; measured = lowest repeat per inference window, summed; "
        f"skipped: {', '.join(f'{n} {phase}' for phase, n in sorted(skipped.items())) or 'none'} window(s) "
        "(fine-tuning is measured once, while the model changes: no repeat to take the lowest of).",
        f"Spearman rho = {rho:.3f} (target >= 0.9); modelled/measured {min(ratios):.2f}-{max(ratios):.2f}x, "
        f"{within} of {len(ratios)} within 0.5-2x.",
    ]
    if overheads:
        out.append(
            f"Counting pass / one measured repeat, per window: median {statistics.median(overheads):.2f}x, "
            f"max {max(overheads):.2f}x; all counting {counting_total:.1f} s / one repeat of every window "
            f"{measured_total:.1f} s = {counting_total / measured_total:.2f}x."
        )
    labels = sorted({r.get("modelled_by") for r in run["records"] if r.get("modelled_by")})
    out.append(f"Modelled by: {'; '.join(labels)}.")
    return "\n".join(out) + "\n"


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=3, help="pytest sessions a side per change (default 3)")
    p.add_argument("--repeats", type=int, default=5, help="--cegi-repeat of each session (default 5)")
    p.add_argument("--changes", default=",".join(BY_KEY), help=f"comma-separated subset of {', '.join(BY_KEY)}")
    p.add_argument("--markdown", type=Path, help="also write the table and summary here")
    p.add_argument("--keep", type=Path, help="keep the model, test and run files here (default: a temp dir)")
    p.add_argument("--from", dest="from_dir", type=Path, metavar="DIR", help="re-evaluate the run files left in DIR")
    p.add_argument("--main-job", type=Path, metavar="RUNFILE", help="read a saved main-job run instead")
    args = p.parse_args(argv)
    args.changes = [c.strip() for c in args.changes.split(",") if c.strip()]
    unknown = [c for c in args.changes if c not in BY_KEY]
    if unknown:
        p.error(f"unknown change(s) {unknown}; choose from {', '.join(BY_KEY)}")
    if args.sessions < 1 or args.repeats < 1:
        p.error("--sessions and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.main_job:
        sys.stdout.write(main_job(args.main_job))
        return 0
    started = time.perf_counter()
    if args.from_dir:
        results = [evaluate(BY_KEY[key], saved_sessions(args.from_dir, BY_KEY[key])) for key in args.changes]
        text = table(results) + "\n" + summary(results) + f"Run files: {args.from_dir}\n"
    else:
        work = args.keep or Path(tempfile.mkdtemp(prefix="cegi-fidelity-"))
        project = write_project(work)
        print(f"model, test and run files: {work}", flush=True)
        results = []
        for key in args.changes:
            change = BY_KEY[key]
            results.append(evaluate(change, run_sessions(project, change, args.sessions, args.repeats, work)))
        minutes = (time.perf_counter() - started) / 60
        text = table(results) + "\n" + summary(results) + f"Run time: {minutes:.0f} min; run files: {work}\n"
    sys.stdout.write("\n" + text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
