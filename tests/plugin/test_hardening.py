"""Issue 12 attacks on the plugin, run as real pytest sessions: poisoned baselines
are usage errors (exit 4, never INTERNALERROR), tracker faults make windows
invalid, output files honour the umask and never replace a device."""

from __future__ import annotations

import json
import os
import stat

import pytest

SIMPLE = """
import pytest

@pytest.mark.cegi(task="t", reference=True)
def test_one(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)
"""


def _usage_error(result, *patterns):
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert "INTERNALERROR" not in out and "Traceback" not in out
    for p in patterns:
        assert p in out, f"{p!r} not in output:\n{out}"


# -- poisoned baselines -------------------------------------------------------------------


@pytest.fixture
def saved(pytester, run):
    pytester.makepyfile(test_x=SIMPLE)
    run("--cegi-save=base.json").assert_outcomes(passed=1)
    return pytester.path / "base.json"


def test_dev_zero_baseline_is_a_usage_error(pytester, run):
    pytester.makepyfile(test_x=SIMPLE)
    _usage_error(run("--cegi-baseline=/dev/zero"), "/dev/zero", "not a regular file")


@pytest.mark.parametrize(
    "old, new, field",
    [
        ('"score": 0.5', '"score": NaN', ".score"),
        ('"phases_counted": null', '"phases_counted": 7', ".phases_counted"),
        ('"score": 0.5', '"score": ' + "1" * 5000, "5000 digits"),
        ('"score": 0.5', '"score": ' + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('"score": 0.5', '"score": "0.5"', ".score"),
    ],
)
def test_poisoned_baseline_is_a_usage_error(pytester, run, saved, old, new, field):
    text = saved.read_text()
    assert old in text
    saved.write_text(text.replace(old, new, 1))
    _usage_error(run("--cegi-baseline=base.json"), "base.json", field)


# -- tracker faults -----------------------------------------------------------------------

FAULTY = """
import dataclasses
import pytest

@pytest.mark.cegi(task="t", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)

@pytest.mark.cegi(task="t", ceiling=1.0)
def test_{name}(cegi):
    cegi.trainable_params = 1000
    with cegi.measure():
        pass
    # what a faulty tracker hands back, on the window the fixture recorded
    cegi.record.windows[-1] = dataclasses.replace(cegi.record.windows[-1], {field}={value})
    cegi.record_score(0.9)
"""


@pytest.mark.parametrize(
    "field, value",
    [
        ("emissions_kg", "-5e-05"),
        ("emissions_kg", "float('nan')"),
        ("emissions_kg", "float('inf')"),
        ("energy_kwh", "float('inf')"),
        ("duration_s", "-1.0"),
        ("cpu_energy_kwh", "-1e-6"),
        ("ram_energy_kwh", "float('nan')"),
    ],
)
def test_tracker_fault_makes_the_window_invalid(pytester, run, field, value):
    """Negative emissions made CEGI negative, which passed a ceiling of 1.0."""
    pytester.makepyfile(test_f=FAULTY.format(name="cand", field=field, value=value))
    result = run("--cegi-budget", "--cegi-save=run.json")
    out = result.stdout.str()
    records = {r["nodeid"].split("::")[1]: r for r in json.loads((pytester.path / "run.json").read_text())["records"]}
    assert records["test_cand"]["verdict"] == "invalid", out
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert field in out


def test_window_invalid_reason_unit():
    from pytest_cegi.core.window import Method, Window

    m = Method("fake", "fake", "none", 475.0, "test", True)
    ok = Window("inference", 1e-6, 4.75e-7, 0.1, m)
    assert ok.invalid_reason is None
    for field, value in [
        ("emissions_kg", -1e-9),
        ("emissions_kg", float("nan")),
        ("energy_kwh", float("inf")),
        ("gpu_energy_kwh", -1.0),
        ("machine_energy_kwh", float("nan")),
        ("cpu_seconds", -2.0),
    ]:
        bad = Window(**{**ok.__dict__, field: value})
        assert field in (bad.invalid_reason or ""), field
    assert "sample" in Window(**{**ok.__dict__, "samples": (1e-6, float("nan"))}).invalid_reason


# -- files --------------------------------------------------------------------------------


def test_outputs_honour_the_umask(pytester, run):
    pytester.makepyfile(test_x=SIMPLE)
    old = os.umask(0o022)
    try:
        run("--cegi-save=run.json", "--cegi-report=r.md", "--cegi-junit=j.xml").assert_outcomes(passed=1)
    finally:
        os.umask(old)
    for name in ("run.json", "r.md", "j.xml"):
        assert stat.S_IMODE((pytester.path / name).stat().st_mode) == 0o644, name


def test_replacing_keeps_the_mode_and_leaves_no_temp_files(tmp_path):
    from pytest_cegi.core.run_file import atomic_write_text

    target = tmp_path / "baseline.json"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]


def test_a_killed_writers_temp_file_is_cleaned_at_the_next_write(tmp_path):
    from pytest_cegi.core.run_file import TMP_MARK, atomic_write_text

    target = tmp_path / "baseline.json"
    dead = tmp_path / f".baseline.json{TMP_MARK}999999999-abc"  # no such pid
    dead.write_text("half")
    other = tmp_path / f".other.json{TMP_MARK}999999999-abc"  # another file's: left alone
    other.write_text("half")
    legacy_old = tmp_path / ".baseline.json.ab12cd_9.tmp"  # an older version's leftover
    legacy_new = tmp_path / ".baseline.json.zz12cd_9.tmp"
    for p in (legacy_old, legacy_new):
        p.write_text("half")
    os.utime(legacy_old, (1, 1))
    atomic_write_text(target, "x")
    assert not dead.exists() and other.exists()
    assert not legacy_old.exists() and legacy_new.exists()  # a fresh one may be a live writer's


def test_cli_update_keeps_a_0644_baseline_0644(tmp_path):
    from pytest_cegi.cli import main
    from pytest_cegi.core.run_file import build_run, write_run

    run_path, base_path = tmp_path / "run.json", tmp_path / "baseline.json"
    write_run(run_path, build_run([], None, {}))
    base_path.write_text("{}")
    base_path.chmod(0o644)
    data = json.loads(run_path.read_text())
    data["records"] = json.loads(json.dumps([{"nodeid": "a::b", "task": "t", "variant": "v"}]))
    run_path.write_text(json.dumps(data))
    assert main(["update", str(run_path), str(base_path)]) == 0
    assert stat.S_IMODE(base_path.stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can replace /dev/full")
def test_the_writer_never_replaces_a_device():
    from pytest_cegi.core.run_file import UnsafeOutputError, atomic_write_text

    with pytest.raises(UnsafeOutputError, match="not a regular file"):
        atomic_write_text("/dev/full", "x")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_the_writer_refuses_a_folder_or_fifo(tmp_path):
    from pytest_cegi.core.run_file import UnsafeOutputError, atomic_write_text

    (tmp_path / "dir.json").mkdir()
    os.mkfifo(tmp_path / "pipe.json")
    for name in ("dir.json", "pipe.json"):
        with pytest.raises(UnsafeOutputError):
            atomic_write_text(tmp_path / name, "x")
    assert (tmp_path / "dir.json").is_dir()


def test_save_to_a_device_is_a_clear_error_not_a_crash(pytester, run, tmp_path):
    pytester.makepyfile(test_x=SIMPLE)
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    result = run(f"--cegi-save={fifo}")
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    assert "not a regular file" in out and result.ret == pytest.ExitCode.TESTS_FAILED
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_xdist_run_leaves_no_lock_file(pytester, tmp_path, monkeypatch):
    pytest.importorskip("xdist")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    pytester.makepyfile(test_a=SIMPLE, test_b=SIMPLE.replace('task="t"', 'task="u"'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cegi-meter=fake", "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=2)
    assert not list(tmp.glob("pytest-cegi-*.lock")), list(tmp.iterdir())


def test_hostile_names_cannot_write_escape_sequences_to_the_terminal(pytester, run):
    pytester.makepyfile(
        test_x="""
import pytest

@pytest.mark.cegi(task="t\\x1b[2K\\x1b[1A", reference=True, floor=0.9)
def test_one(cegi):
    cegi.variant = "v\\x1b[32m PASSED\\r"
    with cegi.measure():
        pass
    cegi.record_score(0.5)
"""
    )
    result = run()
    out = result.stdout.str()
    assert "cegi: quality and carbon" in out
    summary = out[out.index("cegi: quality and carbon") :]
    assert "\x1b[2K" not in summary and "\x1b[32m" not in summary and "\r" not in summary
