"""The reasoning and programming suites' data: deterministic, held out, and right.

(The byte-for-byte reproduction of every committed data file, these included, is
test_bench_data.py's test_generator_reproduces_the_committed_files.)
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "benchmarks" / "data"


@pytest.fixture(scope="module")
def generate():
    spec = importlib.util.spec_from_file_location("bench_generate_rc", DATA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("task", ["reasoning", "programming"])
def test_generators_are_deterministic(generate, task):
    assert getattr(generate, task)() == getattr(generate, task)()


def test_reasoning_answers_are_right_and_held_out():
    train, test = _jsonl(DATA / "reason" / "train.jsonl"), _jsonl(DATA / "reason" / "test.jsonl")
    pretrain = [r["text"] for r in _jsonl(DATA / "reason" / "pretrain.jsonl")]
    assert len(test) >= 96 and len(train) >= 320
    for r in train + test:
        # the worked steps compute the final number: "a op b = c [. c op d = e] #### e"
        steps, final = r["completion"].strip().split(" #### ")
        for x, op, y, z in re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)", steps):
            assert eval(f"{x} {op} {y}") == int(z), r
        assert int(z) == int(final), r
    questions = {r["prompt"] for r in test}
    assert not questions & {r["prompt"] for r in train}
    stories = {q.removeprefix("question: ").removesuffix("\nanswer:") for q in questions}
    assert not [t for t in pretrain if any(s in t for s in stories)]


def test_numeric_accuracy_reads_the_reference_answers():
    from pytest_cegi import metrics

    test = _jsonl(DATA / "reason" / "test.jsonl")
    refs = [r["completion"].strip() for r in test]
    assert metrics.compute("numeric_accuracy", refs, refs).value == 1.0
    # the worked steps alone (no marker): the last number is the answer
    steps = [r.split(" #### ")[0] for r in refs]
    assert metrics.compute("numeric_accuracy", steps, refs).value == 1.0


def test_programming_problems_are_held_out():
    train, test = _jsonl(DATA / "code" / "train.jsonl"), _jsonl(DATA / "code" / "test.jsonl")
    pretrain = [r["text"] for r in _jsonl(DATA / "code" / "pretrain.jsonl")]
    assert len(test) >= 24 and len(train) >= 320
    assert all(len(r["prompts"]) == 3 and r["prompt"] == r["prompts"][0] for r in test)
    defs = {r["prompt"].split("\n")[0] + r["completion"] for r in test}
    assert not defs & {r["prompt"].split("\n")[0] + r["completion"] for r in train}
    # no test function (def line and body) in the pretraining corpus, in any template
    for r in test:
        head, body = r["prompt"].split("\n")[0], r["completion"].strip()
        assert not [t for t in pretrain if head in t and body in t], head


def test_gold_solutions_pass_and_wrong_ones_fail_in_the_sandbox():
    """Each test problem's gold body passes its own tests in pass_at_k's sandbox, under
    every phrasing; returning the argument unchanged passes none of them."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import cegi_bench

    from pytest_cegi import metrics

    test = _jsonl(DATA / "code" / "test.jsonl")
    gold = [[cegi_bench.code_sample(p, r["completion"].strip()) for p in r["prompts"]] for r in test]
    tests = [r["test"] for r in test]
    try:
        result = metrics.compute("pass_at_k", gold, tests, k=[1, 3], workers=2)
    except metrics.MetricError as e:  # no user namespaces here: the sandbox refuses, by design
        pytest.skip(str(e))
    assert result.scores["pass@1"] == 1.0, result.details["counts"]
    args = [re.search(r"\((\w+)", r["prompt"]).group(1) for r in test]
    wrong = [[cegi_bench.code_sample(r["prompt"], f"return {a}")] for r, a in zip(test, args, strict=True)]
    assert metrics.compute("pass_at_k", wrong, tests, workers=2).value == 0.0


def test_code_sample_restores_the_indentation_and_stops_after_the_function():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import cegi_bench

    prompt = 'def f(x):\n    """return x plus one ."""'
    assert cegi_bench.code_sample(prompt, "return x + 1\ndef g():\n    pass") == prompt + "\n    return x + 1\n"
    assert (
        cegi_bench.code_sample(prompt, "if x:\n        return 1\n    return 2\nprint(3)")
        == prompt + "\n    if x:\n        return 1\n    return 2\n"
    )


def test_committed_models_are_complete():
    for task in ("reason", "code"):
        for size in ("tiny", "wide"):
            folder = REPO / "benchmarks" / "models" / f"{task}-{size}"
            for name in ("config.json", "model.safetensors", "tokenizer.json", "build-info.json"):
                assert (folder / name).is_file(), folder / name
            info = json.loads((folder / "build-info.json").read_text())
            assert info["task"] == task and info["settings"]["size"] == size
            assert sum(f.stat().st_size for f in folder.iterdir()) < 3_000_000
