"""pytest-xdist: same tests, verdicts and records as a serial run; no double counting."""

import json

import pytest

pytest.importorskip("xdist")

SUITE = """
import pytest

def work(seconds):
    import time
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return x

@pytest.mark.cegi(task="{task}", reference=True)
def test_{task}_base(cegi):
    with cegi.measure():
        work(0.25)
    cegi.record_score(0.5)

@pytest.mark.cegi(task="{task}", floor=0.4, ceiling=1.0)
@pytest.mark.parametrize("score", [0.6, 0.7, 0.3])
def test_{task}_candidate(cegi, score):
    cegi.trainable_params = 1000
    with cegi.measure():
        work(0.25)
    cegi.record_score(score)
"""


def _run(pytester, *args):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cegi-country=USA", *args)
    return result


def _records(path):
    return {r["nodeid"]: r for r in json.loads(path.read_text())["records"]}


def test_parallel_run_matches_serial_run(pytester):
    for task in ("alpha", "beta"):
        pytester.makepyfile(**{f"test_{task}": SUITE.format(task=task)})
    serial = _run(pytester, "-n", "0", "--cegi-save=serial.json", "--junitxml=serial.xml")
    parallel = _run(pytester, "-n", "2", "--cegi-save=parallel.json", "--junitxml=parallel.xml")
    serial.assert_outcomes(passed=8)
    parallel.assert_outcomes(passed=8)
    parallel.stdout.fnmatch_lines(["cegi: xdist --dist switched to loadfile*"])
    # the controller alone prints the table
    assert parallel.stdout.str().count("cegi: quality and carbon") == 1

    a, b = _records(pytester.path / "serial.json"), _records(pytester.path / "parallel.json")
    assert set(a) == set(b) and len(a) == 8
    figures = {
        "energy_kwh",
        "machine_energy_kwh",
        "emissions_kg",
        "duration_s",
        "windows",
        "phases",
        "cegi",
        "carbon_per_gain",
        "checks",
        "method",
    }
    for nodeid in a:
        same_a = {k: v for k, v in a[nodeid].items() if k not in figures}
        same_b = {k: v for k, v in b[nodeid].items() if k not in figures}
        assert same_a == same_b, nodeid
        assert a[nodeid]["verdict"] == b[nodeid]["verdict"]
        assert a[nodeid]["reference_score"] == b[nodeid]["reference_score"]
    total_a = sum(r["energy_kwh"] for r in a.values())
    total_b = sum(r["energy_kwh"] for r in b.values())
    assert total_b == pytest.approx(total_a, rel=0.25), (total_a, total_b)


def test_parallel_gate_fails_the_same_test(pytester):
    pytester.makepyfile(test_alpha=SUITE.format(task="alpha").replace("work(0.25)", "work(0.01)"))
    result = _run(pytester, "-n", "2", "--cegi-budget", "--cegi-meter=fake")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_alpha.py::test_alpha_candidate[[]0.3[]] - score 0.3 < floor*"])


def test_explicit_dist_mode_is_respected_and_explained(pytester):
    pytester.makepyfile(test_alpha=SUITE.format(task="alpha").replace("work(0.25)", "work(0.01)"))
    result = _run(pytester, "-n", "2", "--dist", "load", "--cegi-meter=fake")
    result.stdout.fnmatch_lines(["cegi: --dist load can split a task across workers*"])


def _table_rows(stdout: str) -> list[tuple[str, str]]:
    """(task, variant) of every row of the terminal table, in printed order."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("task ")) + 2
    rows = []
    for line in lines[start:]:
        parts = line.split()
        if len(parts) < 3 or parts[0] not in ("alpha", "beta"):
            break
        rows.append((parts[0], parts[1]))
    return rows


def test_parallel_table_groups_by_task_as_a_serial_one(pytester):
    """Workers finish in any order; the table is grouped by task, reference first,
    exactly as in a serial run."""
    for task in ("alpha", "beta"):
        pytester.makepyfile(**{f"test_{task}": SUITE.format(task=task)})
    serial = _run(pytester, "-n", "0", "--cegi-meter=fake")
    parallel = _run(pytester, "-n", "2", "--dist", "load", "--cegi-meter=fake")
    rows = _table_rows(parallel.stdout.str())
    assert rows == _table_rows(serial.stdout.str())
    assert [t for t, _ in rows] == ["alpha"] * 4 + ["beta"] * 4
    assert rows[0][1] == "test_alpha_base" and rows[4][1] == "test_beta_base"
