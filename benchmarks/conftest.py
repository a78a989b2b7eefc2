"""Benchmark-suite plumbing: offline switches, CPU threads, quiet logs, and the
cold/warm timing line printed at the end of every run.

Run: ``pytest benchmarks/ --cegi-budget`` (outputs in ``cegi-out/``, see benchmarks/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import pytest

# Never touch the network; keep third-party chatter out of the report.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}.items():
    os.environ.setdefault(_key, _value)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import cegi_bench` under any import mode
import cegi_bench  # noqa: E402

_T0 = time.perf_counter()


def _adapter_entries(cache_dir: Path) -> int:
    from pytest_cegi.models.adapter_cache import ENTRY_FILE

    root = cache_dir / "adapters"
    return sum(1 for p in root.iterdir() if (p / ENTRY_FILE).is_file()) if root.is_dir() else 0


OUTPUTS = {"cegi_save": "run.json", "cegi_report": "report.md", "cegi_plot": "pareto.png", "cegi_junit": "checks.xml"}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Benchmark runs write their results to `<rootdir>/cegi-out/` unless told otherwise.

    Set here rather than in [tool.cegi], because pytest-cegi writes configured outputs
    in every session, and `pytest tests/` must not write an empty cegi-out/.
    `CEGI_OUT=DIR` moves the folder; an explicit --cegi-save etc. (or the same key
    in [tool.cegi]) wins for that file.
    """
    from pytest_cegi.core.settings import find_pyproject, read_table

    configured = {}
    pyproject = find_pyproject(config.rootpath, config.inipath)
    if pyproject is not None:
        try:
            configured = read_table(pyproject, pyproject.name, top_level_ok=False)
        except Exception:
            configured = {}
    out = Path(os.environ.get("CEGI_OUT") or config.rootpath / "cegi-out")
    for option, name in OUTPUTS.items():
        if getattr(config.option, option, None) is None and option.removeprefix("cegi_") not in configured:
            setattr(config.option, option, str(out / name))


def pytest_sessionstart(session):
    from pytest_cegi.plugin import STATE

    config = session.config
    state = config.stash.get(STATE, None)
    cache_dir = (
        Path(state.settings.cache_dir) if state is not None and state.settings.cache_dir else Path(".cegi-cache")
    )
    config._cegi_bench = {
        "cache_dir": cache_dir,
        "adapters_before": _adapter_entries(cache_dir),
        "started": time.perf_counter(),
    }


@pytest.fixture(scope="session", autouse=True)
def _bench_environment():
    """One torch thread by default: these models are tiny, and on a shared 2-core
    machine two threads contend with everything else running there (measured: a
    training step took 0.1 s on one thread, 0.5-3 s on two under load)."""
    import torch

    torch.set_num_threads(int(os.environ.get("CEGI_BENCH_THREADS", "1")))
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # "inputs will be cast to float16" per matmul
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    _ensure_models()
    yield


def _ensure_models():
    """The tiny base models are committed; rebuild any that is missing (minutes, once)."""
    missing = [
        (task, size)
        for task in (*cegi_bench.MAX_NEW_TOKENS, "detect")
        for size in ("tiny", "wide")
        if not (cegi_bench.model_dir(task, size) / "config.json").is_file()
    ]
    # The text-to-image pipelines (diffusers: model_index.json), when diffusers is installed.
    if importlib.util.find_spec("diffusers") is not None:
        missing += [
            ("imagine", size)
            for size in ("tiny", "wide")
            if not (cegi_bench.model_dir("imagine", size) / "model_index.json").is_file()
        ]
    if missing:
        spec = importlib.util.spec_from_file_location("cegi_bench_build", cegi_bench.MODELS / "build.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for task, size in missing:
            module.build(task, size)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from pytest_cegi.plugin import STATE

    info = getattr(config, "_cegi_bench", None)
    state = config.stash.get(STATE, None)
    # Records, not this process's RUN_LOG: under xdist the workers ran the variants
    # and only their records reached this (controller) process.
    records = [r.to_dict() for r in state.records] if state is not None else []  # as the run file holds them
    if info is None or not records:
        return
    log = cegi_bench.RUN_LOG
    wall = time.perf_counter() - info["started"]
    lora = [r for r in records if r.get("lora_rank") is not None]
    trained = sum(1 for r in lora if (r.get("variant_meta") or {}).get("finetune_steps", 0) > 0)
    cached = sum(1 for r in lora if r.get("cached"))
    if not lora:
        kind = "not used (no fine-tuned variant ran)"
    elif trained and not cached:
        kind = "cold (every adapter fine-tuned in this run)"
    elif trained and not info["adapters_before"]:
        # Variants sharing one adapter (the text-to-image samplers) replay the one this run trained.
        kind = "cold (every adapter fine-tuned in this run; variants that share one replay it)"
    elif cached and not trained:
        kind = "warm (every adapter from the cache)"
    else:
        kind = "mixed"
    tr = terminalreporter
    tr.write_sep("-", "cegi benchmarks: run time")
    tr.write_line(
        f"wall time {wall:.1f} s for {len(records)} variants ({time.perf_counter() - _T0:.1f} s "
        f"since conftest import); adapter cache {kind}: {trained} trained, {cached} reused; "
        f"adapter cache entries before the run: {info['adapters_before']} in {info['cache_dir']}"
    )
    spoiled = [e["variant"] for e in log if e["sabotaged"]]
    if spoiled:
        tr.write_line(f"sabotaged: {', '.join(spoiled)} (CEGI_BENCH_SABOTAGE: fine-tuning skipped)")
    extra = [e for e in log if len(e["scores"]) > 1]
    for e in extra:
        tr.write_line(
            f"  {e['task']}/{e['variant']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in e["scores"].items() if isinstance(v, (int, float)))
        )
    if state.settings.save is not None:
        from pytest_cegi.core.run_file import atomic_write_text

        out = Path(state.settings.save).parent / "timings.json"
        try:
            table = out.parent / "results.md"
            atomic_write_text(table, results_table(records, wall, kind))
            tr.write_line(f"cegi benchmarks: wrote {table}")
            timings = {
                "wall_s": round(wall, 1),
                "cache": kind.split(" (")[0],
                "trained": trained,
                "reused": cached,
                "variants": len(records),
                "threads": int(os.environ.get("CEGI_BENCH_THREADS", "1")),
                "exitstatus": int(exitstatus),
            }
            atomic_write_text(out, json.dumps(timings, indent=2) + "\n")
            tr.write_line(f"cegi benchmarks: wrote {out}")
        except OSError as exc:
            tr.write_line(f"cegi benchmarks: could not write {out}: {exc}")


def results_table(records: list[dict], wall: float, kind: str) -> str:
    """Markdown: every variant of every task with score, gain, T_M, energy, CO2e, CEGI."""

    def num(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [
        f"Run time {wall:.1f} s, adapter cache {kind}. Energy and CO2e per test; "
        "modelled figures are estimates. CEGI in kg CO2e per (% gain x M trainable params); "
        "per (point x M) where the gain is in points.",
        "",
        "| task | variant | metric | score | gain | T_M | energy (J) | CO2e (mg) | CEGI | kg per % gain "
        "| cached | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r["task"], not r["reference"])):
        unit = " pts" if r.get("gain_mode") == "points" else "%"  # the text-to-image suite's gain is in points
        gain = "ref" if r["reference"] else (f"{r['gain_pct']:+.1f}{unit}" if r.get("gain_pct") is not None else "-")
        cegi = (
            "n/a (reference)"
            if r["reference"]
            else "n/a (nothing trained)"
            if r.get("cegi_applicable") is False
            else f"{r['cegi']:.2e}"
            if r.get("cegi") is not None
            else f"undefined ({r.get('cegi_reason') or '?'})"
        )
        tm = r.get("trainable_params")
        lines.append(
            " | ".join(
                [
                    "",
                    r["task"],
                    r["variant"],
                    str(r.get("metric") or "-"),
                    num(r.get("score"), ".4f"),
                    gain,
                    "-" if tm is None else f"{tm / 1e6:.4f} M",
                    num(None if r.get("energy_kwh") is None else r["energy_kwh"] * 3.6e6, ".1f"),
                    num(None if r.get("emissions_kg") is None else r["emissions_kg"] * 1e6, ".2f"),
                    cegi,
                    num(r.get("carbon_per_gain"), ".2e"),
                    "yes" if r.get("cached") else "no",
                    r["verdict"],
                    "",
                ]
            ).strip()
        )
    return "\n".join(lines) + "\n"
