"""--cegi-repeat: every window form repeats or says it cannot; FLOPs counted outside the windows."""

import json

import pytest

# Loaded here, not first inside a pytester run: pytester restores sys.modules after each
# in-process run, and a torch dropped from it cannot be imported a second time.
torch = pytest.importorskip("torch")


def _load_the_flop_counter() -> None:
    """The counter imports torch submodules lazily; do it here for the same reason."""
    from pytest_cegi.measure.work import counting

    with counting():
        torch.ones(2, 2) @ torch.ones(2, 2)


_load_the_flop_counter()

SUITE = """
import torch

CALLS = []

def work():
    CALLS.append(1)
    return torch.ones(8, 16) @ torch.ones(16, 4)      # 2 * 8 * 16 * 4 = 1024 FLOPs

def test_loop(cegi):
    for run in cegi.repeated():
        with run:
            work()
    cegi.record_score(0.5)

def test_call(cegi):
    CALLS.clear()
    out = cegi.measure_call(work)
    assert out.shape == (8, 4)
    cegi.record_score(0.5)

def test_with(cegi):
    with cegi.measure():
        work()
    cegi.record_score(0.5)
"""


def _records(path):
    return {r["nodeid"].split("::")[-1]: r for r in json.loads(path.read_text())["records"]}


def test_repeated_forms_repeat_and_count_flops_outside_the_windows(pytester, run):
    pytester.makepyfile(test_suite=SUITE)
    result = run("--cegi-repeat=3", "--cegi-save=run.json")
    result.assert_outcomes(passed=3)
    records = _records(pytester.path / "run.json")
    for name in ("test_loop", "test_call"):
        (window,) = records[name]["windows"]
        assert len(window["samples"]) == 3, name  # three measured runs
        assert window["flops"] == 1024, name  # one run's FLOPs, counted once
        assert records[name]["cost"] == 1024 and records[name]["cost_basis"] == "FLOPs (inference)"
        assert not records[name]["notes"]
    (window,) = records["test_with"]["windows"]
    # a with block cannot re-run: its work is counted while it is measured, and says so
    assert window["samples"] == [] and window["flops"] == 1024 and window["details"]["counted_inside"] is True
    assert "ran once" in records["test_with"]["notes"][0]
    # said once, in the summary, naming the way out
    result.stdout.fnmatch_lines(
        ["note: *test_with*--cegi-repeat 3: a `with cegi.measure()` block ran once*cegi.repeated()*"]
    )


def test_counting_pass_is_one_extra_unmeasured_run(pytester, run):
    pytester.makepyfile(
        test_suite=SUITE
        + """
def test_calls_counted(cegi):
    CALLS.clear()
    cegi.measure_call(work)
    assert len(CALLS) == 1 + 4          # the counting run, then four measured runs
"""
    )
    run("--cegi-repeat=4", "-k", "calls_counted").assert_outcomes(passed=1)


def test_repeat_1_with_block_has_no_note(pytester, run):
    pytester.makepyfile(test_suite=SUITE)
    result = run("--cegi-save=run.json", "-k", "test_with")
    result.assert_outcomes(passed=1)
    assert _records(pytester.path / "run.json")["test_with"]["notes"] == []
    assert "ran once" not in result.stdout.str()


def test_a_run_not_used_as_with_is_a_clear_error(pytester, run):
    pytester.makepyfile(
        test_suite="""
def test_misuse(cegi):
    for run in cegi.repeated():
        pass
"""
    )
    result = run("--cegi-repeat=2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*each run of cegi.repeated() must be used as `with run:`*"])


def test_no_torch_no_counting_pass(pytester):
    """A test that never imports torch gets N runs, no counting, and torch stays unloaded."""
    pytester.makepyfile(
        test_suite="""
import sys

def test_plain(cegi):
    calls = []
    for run in cegi.repeated():
        with run:
            calls.append(1)
    assert len(calls) == 3
    assert "torch" not in sys.modules
"""
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--cegi-meter=fake", "--cegi-repeat=3", "--cegi-save=run.json"
    )
    result.assert_outcomes(passed=1)
    (window,) = _records(pytester.path / "run.json")["test_plain"]["windows"]
    assert window["flops"] is None and len(window["samples"]) == 3
