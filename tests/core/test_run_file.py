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
    assert loaded["schema_version"] == 1
    assert loaded["records"][0]["variant"] == "base"
