"""The benchmark gate must fail a variant that really regressed.

Runs the text-to-SQL suite (the fastest text suite), the VQA suite (a tiny
vision-language model), and the programming, detection and text-to-image suites
through pytester in a copy of the repo's benchmark layout, with the repo's own
[tool.cegi] budgets, and sabotages LoRA
variants with CEGI_BENCH_SABOTAGE: they skip fine-tuning, so their untrained adapter
scores exactly like the base. The gate must fail those tests -- on the score floor and
on the CEGI ceiling ("no gain over reference") -- and pass the base.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


def cegi_tables(pyproject: Path) -> str:
    """The [tool.cegi] table and its [[tool.cegi.budget]] entries, as TOML text,
    without the baseline (this run is compared with budgets only)."""
    out, keep = [], False
    for line in pyproject.read_text(encoding="utf-8").splitlines():
        header = re.match(r"^\s*\[\[?([^\]]+)\]\]?\s*(#.*)?$", line)
        if header:
            keep = header.group(1).strip().startswith("tool.cegi")
        if keep and not re.match(r"^\s*baseline\s*=", line):
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture
def bench(pytester: pytest.Pytester) -> pytest.Pytester:
    dest = pytester.path / "benchmarks"
    dest.mkdir()
    for name in (
        "conftest.py",
        "cegi_bench.py",
        "cegi_detect.py",
        "test_sql.py",
        "test_vqa.py",
        "test_code.py",
        "test_detect.py",
        "cegi_imagine.py",
        "imagine_pipeline.py",
        "test_imagine.py",
        "profile.json",  # the work model's prices, named by [tool.cegi] flops_profile
    ):
        shutil.copy(BENCH / name, dest / name)
    (dest / "data").symlink_to(BENCH / "data", target_is_directory=True)
    (dest / "models").symlink_to(BENCH / "models", target_is_directory=True)
    text = cegi_tables(REPO / "pyproject.toml")
    assert "[[tool.cegi.budget]]" in text, "the repo's pyproject.toml has no benchmark budgets"
    (pytester.path / "pyproject.toml").write_text(text, encoding="utf-8")
    return pytester


def test_cegi_tables_extracts_budgets_only():
    text = cegi_tables(REPO / "pyproject.toml")
    assert "[tool.cegi]" in text and "[project]" not in text and "ini_options" not in text
    assert not re.search(r"^\s*baseline\s*=", text, re.M)


def run_suite(bench: pytest.Pytester, suite: str, selection: str) -> pytest.RunResult:
    """One benchmark file, the selected variants only, under --cegi-budget."""
    return bench.runpytest_subprocess(
        f"benchmarks/test_{suite}.py",
        "--cegi-budget",
        "-k",
        selection,
        "-p",
        "no:cacheprovider",
        "--cegi-cache-dir",
        str(bench.path / "cache"),
    )


def assert_sabotage_caught(result: pytest.RunResult, suite: str, variant: str, no_gain: str = "+0%") -> None:
    """The sabotaged variant fails its score floor and its CEGI ceiling; the base passes.
    `no_gain`: the gain as the report writes it ("+0 pts" where the suite uses points)."""
    out = result.stdout.str()
    result.assert_outcomes(passed=1, failed=1)
    assert f"FAILED benchmarks/test_{suite}.py::test_{suite}[{variant}] - score " in out, out
    failed = re.search(r"score (0\.\d+) < floor (0\.\d+) \(pyproject\.toml budget #\d+\)", out)
    assert failed and float(failed.group(1)) < float(failed.group(2)), out
    assert f"CEGI undefined: no gain over reference ({no_gain})" in out, out
    assert f"sabotaged: {variant}" in out, out


def test_gate_fails_a_variant_that_skips_finetuning(bench, monkeypatch):
    monkeypatch.setenv("CEGI_BENCH_SABOTAGE", "lora-r16")
    result = run_suite(bench, "sql", "base or lora-r16")
    out = result.stdout.str()
    result.assert_outcomes(passed=1, failed=1)
    assert "FAILED benchmarks/test_sql.py::test_sql[lora-r16] - score 0.625 < floor" in out, out
    assert re.search(r"score 0\.625 < floor 0\.7 \(pyproject\.toml budget #\d+\)", out), out
    assert re.search(
        r"CEGI undefined: no gain over reference \(\+0%\) \(ceiling [^,]+, pyproject\.toml budget #\d+\)", out
    ), out
    assert "sabotaged: lora-r16" in out, out


def test_same_variant_passes_when_fine_tuned(bench, monkeypatch):
    """The control: without sabotage the same selection passes (one LoRA fine-tune, ~5-20 s)."""
    monkeypatch.delenv("CEGI_BENCH_SABOTAGE", raising=False)
    result = run_suite(bench, "sql", "base or lora-r16")
    result.assert_outcomes(passed=2)


def test_gate_fails_a_vision_variant_that_skips_finetuning(bench, monkeypatch):
    """The same on the tiny LLaVA: an untrained adapter answers exactly like the base."""
    monkeypatch.setenv("CEGI_BENCH_SABOTAGE", "lora-r16")
    assert_sabotage_caught(run_suite(bench, "vqa", "base or lora-r16"), "vqa", "lora-r16")


def test_same_vision_variant_passes_when_fine_tuned(bench, monkeypatch):
    """The control for the vision suite (one LoRA fine-tune of the tiny VLM, ~10 s)."""
    monkeypatch.delenv("CEGI_BENCH_SABOTAGE", raising=False)
    run_suite(bench, "vqa", "base or lora-r16").assert_outcomes(passed=2)


def test_gate_fails_a_programming_variant_that_skips_finetuning(bench, monkeypatch):
    """The programming suite (pass@1 in the code sandbox): an untrained adapter writes
    the base's functions, so it fails the floor set above the base."""
    monkeypatch.setenv("CEGI_BENCH_SABOTAGE", "lora-r16")
    assert_sabotage_caught(run_suite(bench, "code", "base or lora-r16"), "code", "lora-r16")


def test_same_programming_variant_passes_when_fine_tuned(bench, monkeypatch):
    """The control for the programming suite (one LoRA fine-tune, ~10 s)."""
    monkeypatch.delenv("CEGI_BENCH_SABOTAGE", raising=False)
    run_suite(bench, "code", "base or lora-r16").assert_outcomes(passed=2)


def test_gate_fails_a_detection_variant_that_skips_finetuning(bench, monkeypatch):
    """The detection suite (COCO mAP, tiny DETR): a "fine-tuned" variant that skipped its
    training detects exactly like the base and fails the floor and the CEGI ceiling; the
    base passes."""
    pytest.importorskip("pycocotools")
    monkeypatch.setenv("CEGI_BENCH_SABOTAGE", "finetune")
    assert_sabotage_caught(run_suite(bench, "detect", "base or finetune"), "detect", "finetune")


# The base and the plain LoRA variant only: not the samplers and step counts on its adapter.
IMAGINE_BASE_AND_LORA = "base or (lora-r8 and not ddim and not euler and not lms and not steps)"


def test_gate_fails_a_text_to_image_variant_that_skips_finetuning(bench, monkeypatch):
    """The text-to-image suite (pixel checker, tiny diffusers pipeline): an untrained
    adapter (B = 0) samples the base's small shapes, so it fails the floor set above the
    base and, with no gain, the CEGI ceiling; the base passes. Its gain is in points."""
    pytest.importorskip("diffusers")
    monkeypatch.setenv("CEGI_BENCH_SABOTAGE", "lora-r8")
    result = run_suite(bench, "imagine", IMAGINE_BASE_AND_LORA)
    assert_sabotage_caught(result, "imagine", "lora-r8", no_gain="+0 pts")


def test_same_text_to_image_variant_passes_when_fine_tuned(bench, monkeypatch):
    """The control for the text-to-image suite (one LoRA fine-tune of the denoiser, ~25-50 s)."""
    pytest.importorskip("diffusers")
    monkeypatch.delenv("CEGI_BENCH_SABOTAGE", raising=False)
    run_suite(bench, "imagine", IMAGINE_BASE_AND_LORA).assert_outcomes(passed=2)
