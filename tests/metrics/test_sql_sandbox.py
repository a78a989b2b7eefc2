"""Hostile SQL: every query is refused or scores 0, quickly, and the database is untouched."""

import sqlite3
import time

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics.sql_sandbox import SqlSandbox, run_query

TIMEOUT_S = 0.5
SLACK_S = 1.5  # scheduling noise on a loaded CI machine

GOLD = "SELECT count(*) FROM singer"

HOSTILE = {
    "drop": "DROP TABLE singer",
    "delete": "DELETE FROM singer",
    "update": "UPDATE singer SET age = 0",
    "insert": "INSERT INTO singer VALUES (9, 'Mallory', 'Nowhere', 1)",
    "create": "CREATE TABLE evil (x)",
    "create_temp": "CREATE TEMP TABLE evil AS SELECT * FROM singer",
    "attach": "ATTACH DATABASE '{other}' AS other",
    "attach_then_select": "ATTACH '{other}' AS o; SELECT count(*) FROM o.secret",
    "vacuum_into": "VACUUM INTO '{copy}'",
    "pragma_user_version": "PRAGMA user_version = 7",
    "pragma_journal": "PRAGMA journal_mode = DELETE",
    "pragma_writable_schema": "PRAGMA writable_schema = ON",
    "pragma_function": "SELECT * FROM pragma_user_version",
    "load_extension": "SELECT load_extension('/nonexistent/libevil')",
    "endless_recursive_cte": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "endless_cte_rows": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "huge_cross_join": "SELECT count(*) FROM n a, n b, n c, n d",
    "huge_cross_join_rows": "SELECT * FROM n a, n b, n c",
    "multi_statement": "SELECT count(*) FROM singer; DROP TABLE singer",
    "multi_statement_delete_first": "DELETE FROM singer; SELECT count(*) FROM singer",
    "transaction": "BEGIN; DELETE FROM singer; COMMIT",
    "with_delete": "WITH x AS (SELECT 1) DELETE FROM singer",
    "with_insert": "WITH x AS (SELECT 1) INSERT INTO singer SELECT * FROM singer",
    "comment_hidden": "/* harmless */ -- really\n DROP TABLE singer",
    "memory_bomb": "SELECT zeroblob(1000000000)",
    "reindex": "REINDEX",
    "analyze": "ANALYZE",
}


@pytest.fixture
def other_db(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE secret (s)")
    conn.execute("INSERT INTO secret VALUES ('x')")
    conn.commit()
    conn.close()
    return path


def _sql(template, tmp_path, other_db):
    return template.format(other=other_db, copy=tmp_path / "copy.sqlite")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_query_scores_zero_fast_and_changes_nothing(name, singer_db, other_db, tmp_path, digest):
    sql = _sql(HOSTILE[name], tmp_path, other_db)
    before, other_before = digest(singer_db), digest(other_db)
    start = time.perf_counter()
    result = metrics.compute("execution_accuracy", [sql], [GOLD], db=singer_db, timeout_s=TIMEOUT_S, max_rows=1000)
    elapsed = time.perf_counter() - start
    assert result.value == 0.0
    assert result.details["per_example"][0] in {"refused", "denied", "timeout", "too_many_rows", "error", "memory"}
    assert elapsed < TIMEOUT_S + SLACK_S
    assert digest(singer_db) == before
    assert digest(other_db) == other_before
    assert not (tmp_path / "copy.sqlite").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["concert.sqlite", "other.sqlite"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_sandbox_alone_never_reports_ok(name, singer_db, other_db, tmp_path):
    outcome = run_query(singer_db, _sql(HOSTILE[name], tmp_path, other_db), timeout_s=TIMEOUT_S, max_rows=1000)
    assert not outcome.ok
    assert outcome.rows is None and outcome.error


def test_time_limit_is_reported_as_timeout(singer_db):
    outcome = run_query(singer_db, HOSTILE["huge_cross_join"], timeout_s=0.2)
    assert outcome.status == "timeout"
    assert 0.2 <= outcome.elapsed_s < 0.2 + SLACK_S


def test_row_cap(singer_db):
    assert run_query(singer_db, "SELECT * FROM n", max_rows=300).ok
    capped = run_query(singer_db, "SELECT * FROM n", max_rows=299)
    assert capped.status == "too_many_rows"


def test_sandbox_keeps_working_after_hostile_queries(singer_db, other_db, tmp_path):
    with SqlSandbox(singer_db, timeout_s=TIMEOUT_S, max_rows=1000) as box:
        for template in HOSTILE.values():
            box.execute(_sql(template, tmp_path, other_db))
        outcome = box.execute("SELECT name FROM singer WHERE age > 33 ORDER BY name")
    assert outcome.ok
    assert outcome.rows == (("Chloe",), ("Eve",))


def test_schema_is_readable_through_sqlite_master(singer_db):
    outcome = run_query(singer_db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert outcome.rows == (("n",), ("singer",))


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        SqlSandbox(tmp_path / "nope.sqlite")
    # and the attempt did not create it
    assert not (tmp_path / "nope.sqlite").exists()
