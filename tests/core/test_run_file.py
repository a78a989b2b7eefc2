"""Saved runs on disk: save, load, migrate, and the errors for unusable files."""

import json

import pytest

from pytest_cegi.core import run_file
from pytest_cegi.core.run_file import BaselineError, load_run


def test_save_then_load_round_trips(make):
    run = make.run([make.record("base", reference=True), make.record("lora")])
    assert load_run(make.save(run)) == json.loads(make.dump(run))


@pytest.mark.parametrize(
    "text,problem",
    [
        ("", "empty"),
        ('{"schema": "pytest-cegi/run", "schema_version": 1, "records": [', "truncated or corrupted"),
        ("\x00\x01garbage", "truncated or corrupted"),
        ("[1, 2, 3]", "not a pytest-cegi run file"),
        ('{"schema": "other", "schema_version": 1}', "not a pytest-cegi run file"),
        ('{"schema": "pytest-cegi/run", "schema_version": "1", "records": []}', "schema_version must be an integer"),
        ('{"schema": "pytest-cegi/run", "schema_version": 1, "records": {}}', "field records: expected an array"),
    ],
)
def test_unusable_files_are_clear_errors_naming_the_file(make, text, problem):
    path = make.write_text(text, "baseline.json")
    with pytest.raises(BaselineError) as info:
        load_run(path)
    assert str(info.value).startswith(path + ": ")
    assert problem in str(info.value)


def test_truncated_real_run_is_a_clear_error(make):
    text = make.dump(make.run([make.record("base")]))
    path = make.write_text(text[: len(text) // 2], "baseline.json")
    with pytest.raises(BaselineError, match=r"baseline\.json: not valid JSON at line \d+"):
        load_run(path)


def test_missing_file(make):
    with pytest.raises(BaselineError, match="no such file"):
        load_run(make.tmp_path / "nope.json")


def test_malformed_record_names_the_record(make):
    run = make.run([make.record("base"), make.record("lora")])
    run["records"][1]["score"] = "high"
    with pytest.raises(BaselineError, match=r"field records\[1\] \(.*lora.*\)\.score: expected a finite number"):
        load_run(make.save(run))
    del run["records"][1]["variant"]
    with pytest.raises(BaselineError, match=r"field records\[1\]\.variant: expected a string"):
        load_run(make.save(run))


def test_old_schema_is_rejected_with_how_to_regenerate(make):
    run = make.run([make.record("base")])
    run["schema_version"] = 0
    with pytest.raises(BaselineError) as info:
        load_run(make.save(run))
    message = str(info.value)
    assert "schema_version 0 is too old" in message and "--cegi-save" in message


def test_newer_schema_asks_for_an_upgrade(make):
    run = make.run([make.record("base")])
    run["schema_version"] = 99
    with pytest.raises(BaselineError, match="newer pytest-cegi"):
        load_run(make.save(run))


def test_registered_migrations_are_applied_in_order(make, monkeypatch):
    run = make.run([make.record("base")])
    run["schema_version"] = 0
    run["records"][0]["name"] = run["records"][0].pop("variant")  # an imagined old field name

    def rename(old):
        old["records"] = [dict(r, variant=r.pop("name")) for r in old["records"]]
        return old

    monkeypatch.setitem(run_file.MIGRATIONS, 0, rename)
    loaded = load_run(make.save(run))
    assert loaded["schema_version"] == run_file.SCHEMA_VERSION == 2  # 0 -> 1 (rename) -> 2
    assert loaded["records"][0]["variant"] == "base"


def test_a_version_1_run_reads_as_version_2(make):
    """Version 2 only added optional keys (shards, devices): a version 1 file, such as
    a committed baseline, loads unchanged, and says which version wrote it."""
    run = make.run([make.record("base")])
    run["schema_version"] = 1
    loaded, written = run_file.load_run_versioned(make.save(run))
    assert (loaded["schema_version"], written) == (2, 1)
    assert loaded["records"][0]["variant"] == "base" and loaded["records"][0].get("shard") is None


# -- CPU identity --------------------------------------------------------------

X86_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 1
cache size\t: 512 KB
flags\t\t: fpu sse4_2 avx avx2 fma

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 99
model name\t: not the first processor
"""

ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd
CPU implementer\t: 0x41
CPU variant\t: 0x3
CPU part\t: 0xd0c
"""


@pytest.mark.parametrize(
    "text, model, identity",
    [
        (X86_CPUINFO, "AMD EPYC", "AuthenticAMD family 25 model 1 stepping 1; 512 KB cache; sse4_2 avx avx2 fma"),
        (ARM_CPUINFO, None, "implementer 0x41 part 0xd0c variant 0x3"),
        ("", None, None),
    ],
)
def test_cpu_identity_from_proc_cpuinfo(monkeypatch, request, tmp_path, text, model, identity):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: real_open(path if f == "/proc/cpuinfo" else f, *a, **k))
    run_file._cpuinfo.cache_clear()  # read once per process: forget this machine's,
    request.addfinalizer(run_file._cpuinfo.cache_clear)  # and the fake one afterwards
    assert run_file.cpu_identity() == identity
    if model:
        assert run_file.cpu_model() == model
    info = run_file.machine_info()
    assert info["cpu_id"] == identity and info["cpu"]
