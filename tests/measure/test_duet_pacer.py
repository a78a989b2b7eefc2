"""Duet pacing: two sessions step through their repeats together (measure/duet.py)."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from pytest_cegi.measure.duet import DuetError, DuetPacer, pinnable_cores


def _both(tmp_path, base_labels, head_labels, timeout=10.0):
    pacers = {role: DuetPacer(tmp_path, role, timeout) for role in ("base", "head")}
    arrived: dict[str, list[float]] = {"base": [], "head": []}
    together: dict[str, list[bool]] = {"base": [], "head": []}

    def side(role, labels, delay):
        for label in labels:
            time.sleep(delay)  # one side is slower between steps: the barrier waits for it
            together[role].append(pacers[role].wait(label))
            arrived[role].append(time.perf_counter())

    threads = [
        threading.Thread(target=side, args=("base", base_labels, 0.0)),
        threading.Thread(target=side, args=("head", head_labels, 0.05)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return pacers, arrived, together


def test_sides_leave_each_step_together(tmp_path):
    labels = [f"t {i}" for i in range(5)]
    pacers, arrived, together = _both(tmp_path, labels, labels)
    assert together == {"base": [True] * 5, "head": [True] * 5}
    # the fast side waited for the slow one at every step: they left within a few ms
    assert max(abs(b - h) for b, h in zip(arrived["base"], arrived["head"], strict=True)) < 0.03
    assert pacers["base"].waited_s > 0.15 and pacers["base"].in_step == 5


def test_alternate_mode_takes_turns_and_never_overlaps(tmp_path):
    """On one GPU the sides take turns, in ABBA order: base then head at step 1, head
    then base at step 2, ..."""
    pacers = {role: DuetPacer(tmp_path, role, 10.0, mode="alternate") for role in ("base", "head")}
    spans: list[tuple[str, int, float, float]] = []
    lock = threading.Lock()

    def side(role):
        for i in range(4):
            assert pacers[role].wait(f"t {i}")
            start = time.perf_counter()
            time.sleep(0.02)  # the measured repeat
            with lock:
                spans.append((role, i, start, time.perf_counter()))
            pacers[role].done()

    threads = [threading.Thread(target=side, args=(role,)) for role in ("head", "base")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans.sort(key=lambda s: s[2])
    order = [("base", "head") if i % 2 == 0 else ("head", "base") for i in range(4)]  # ABBA
    assert [(role, i) for role, i, *_ in spans] == [(r, i) for i in range(4) for r in order[i]]
    assert all(a[3] <= b[2] for a, b in zip(spans, spans[1:], strict=False))  # no two repeats measured at once


def test_different_labels_are_out_of_step(tmp_path):
    pacers, _, together = _both(tmp_path, ["a", "b", "c"], ["a", "x", "c"])
    assert together["base"] == [True, False, True] and pacers["head"].out_of_step == 1


def test_a_side_left_alone_gives_up_once(tmp_path):
    pacer = DuetPacer(tmp_path, "base", timeout_s=0.05)
    assert pacer.wait("a") is False and pacer.gave_up
    started = time.perf_counter()
    assert pacer.wait("b") is False  # no second wait
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"CEGI_DUET_ROLE": "left"}, "CEGI_DUET_ROLE must be one of base, head"),
        ({"CEGI_DUET_ROLE": "base", "CEGI_DUET_TIMEOUT": "soon"}, "CEGI_DUET_TIMEOUT must be a number"),
        ({"CEGI_DUET_ROLE": "base", "CEGI_DUET_MODE": "sometimes"}, "CEGI_DUET_MODE must be one of together"),
    ],
)
def test_a_bad_duet_environment_is_a_clear_error(tmp_path, monkeypatch, env, match):
    monkeypatch.setenv("CEGI_DUET_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(DuetError, match=match):
        DuetPacer.from_env()


def test_no_duet_folder_no_pacer(monkeypatch):
    monkeypatch.delenv("CEGI_DUET_DIR", raising=False)
    assert DuetPacer.from_env() is None


SUITE = """
import pytest

@pytest.mark.cegi(task="qa")
@pytest.mark.parametrize("case", range(2))
def test_work(cegi, case):
    cegi.measure_call(sum, range(1000))
    cegi.record_score(1.0)
"""


@pytest.mark.parametrize("mode", ["together", "alternate"])
def test_two_real_sessions_step_through_their_repeats(pytester, mode):
    pytester.makepyfile(test_suite=SUITE)
    steps = pytester.path / "steps"
    steps.mkdir()
    procs = []
    for role in ("base", "head"):
        env = dict(os.environ, CEGI_DUET_DIR=str(steps), CEGI_DUET_ROLE=role, CEGI_DUET_TIMEOUT="60")
        env["CEGI_DUET_MODE"] = mode
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
        cmd += ["--cegi-meter=fake", "--cegi-repeat=3", f"--cegi-save={role}.json", "test_suite.py"]
        procs.append(subprocess.Popen(cmd, cwd=pytester.path, env=env, stdout=subprocess.PIPE, text=True))
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    for role in ("base", "head"):
        run = json.loads((pytester.path / f"{role}.json").read_text())
        duets = [r["windows"][0]["details"]["duet"] for r in run["records"]]
        assert duets == [{"role": role, "mode": mode, "repeats_together": 3}] * 2
        assert not run["warnings"]
    assert len([p for p in steps.glob("base-*") if p.suffix != ".done"]) == 6  # 2 tests x 3 repeats, one step each


def test_a_duet_side_refuses_xdist(pytester, monkeypatch):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_suite=SUITE)
    monkeypatch.setenv("CEGI_DUET_DIR", str(pytester.path))
    monkeypatch.setenv("CEGI_DUET_ROLE", "base")
    result = pytester.runpytest("-p", "no:cacheprovider", "--cegi-meter=fake", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*a duet side runs in one process; drop -n*"])


def test_swapping_sides_trade_cores_at_every_step(tmp_path):
    cores = pinnable_cores()
    if len(cores) < 2:
        pytest.skip("needs two CPUs this OS can pin to")
    pair = (cores[0], cores[1])
    base, head = (DuetPacer(tmp_path, role, 10.0, cores=pair) for role in ("base", "head"))
    (tmp_path / "head-1").write_text("t 0")  # the other side has arrived at step 1
    (tmp_path / "head-2").write_text("t 1")
    original = os.sched_getaffinity(0)
    try:
        steps = []
        for label in ("t 0", "t 1"):
            assert base.wait(label)
            steps.append((base.core(), os.sched_getaffinity(0)))
    finally:
        os.sched_setaffinity(0, original)
    assert steps == [(pair[1], {pair[1]}), (pair[0], {pair[0]})]  # pinned, and swapped at the next step
    head.step = 1
    assert head.core() == pair[0]  # at each step the other side has the other core
    assert DuetPacer(tmp_path, "base", 10.0, mode="alternate", cores=pair).core() is None


def test_duet_cores_must_be_two_cpus_of_this_process(tmp_path, monkeypatch):
    monkeypatch.setenv("CEGI_DUET_DIR", str(tmp_path))
    monkeypatch.setenv("CEGI_DUET_ROLE", "base")
    monkeypatch.setenv("CEGI_DUET_CORES", "0,0")
    with pytest.raises(DuetError, match="two different CPUs"):
        DuetPacer.from_env()
    monkeypatch.setenv("CEGI_DUET_CORES", "zero")
    with pytest.raises(DuetError, match="two CPU ids"):
        DuetPacer.from_env()
    monkeypatch.setenv("CEGI_DUET_CORES", "0,1")
    monkeypatch.setenv("CEGI_DUET_MODE", "alternate")  # taking turns: cores would be ignored, so refused
    with pytest.raises(DuetError, match="applies to CEGI_DUET_MODE=together only"):
        DuetPacer.from_env()
