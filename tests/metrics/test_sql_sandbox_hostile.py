"""Queries that defeat SQLite's own limits: the child process's limits must hold anyway."""

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics import sql_sandbox
from pytest_cegi.metrics.sql_sandbox import SqlSandbox, run_query

TIMEOUT_S = 1.0
SLACK_S = 1.5  # scheduling noise on a loaded CI machine

# A single built-in call that never reaches the progress handler (quadratic in its input).
INSTR = "SELECT instr(printf('%.*c',9000000,'a'), printf('%.*c',3000000,'a')||'b')"
PRINTF_2E9 = "SELECT printf('%.*c', 2000000000, 'x')"
ROWS_OF_10MB = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 10000) SELECT printf('%.*c',9999999,'x') FROM c"
)
WIDE_ROW = "SELECT " + ",".join(["p"] * 32) + " FROM (SELECT printf('%.*c',9999999,'x') AS p)"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


@pytest.mark.parametrize("sql", [INSTR, PRINTF_2E9], ids=["instr_quadratic", "printf_2e9"])
def test_runaway_builtin_is_killed_at_the_deadline(singer_db, sql):
    outcome, elapsed = timed(lambda: run_query(singer_db, sql, timeout_s=TIMEOUT_S))
    assert outcome.status == "timeout"
    assert outcome.rows is None and "time limit" in outcome.error
    assert elapsed < TIMEOUT_S + SLACK_S


def test_runaway_builtin_scores_zero_in_the_metric(singer_db):
    result, elapsed = timed(
        lambda: metrics.compute("execution_accuracy", [INSTR], ["SELECT 1"], db=singer_db, timeout_s=TIMEOUT_S)
    )
    assert result.value == 0.0
    assert result.details["per_example"] == ["timeout"]
    assert elapsed < TIMEOUT_S + SLACK_S


def test_many_huge_rows_stop_at_the_memory_limit(singer_db):
    # 10,000 rows of 10 MB: the child's 128 MiB address space runs out after a few.
    outcome, elapsed = timed(lambda: run_query(singer_db, ROWS_OF_10MB, timeout_s=10, memory_mib=128))
    assert outcome.status == "memory"
    assert "128 MiB" in outcome.error or "result larger" in outcome.error
    assert elapsed < 10


def test_many_huge_rows_at_the_defaults_never_pass(singer_db):
    outcome, elapsed = timed(lambda: run_query(singer_db, ROWS_OF_10MB, timeout_s=TIMEOUT_S))
    assert outcome.status in {"timeout", "memory"}
    assert elapsed < TIMEOUT_S + SLACK_S


def test_one_wide_row_stops_at_the_memory_limit(singer_db):
    outcome = run_query(singer_db, WIDE_ROW, timeout_s=10, memory_mib=128)
    assert outcome.status == "memory"
    assert "128 MiB" in outcome.error


def test_result_size_is_capped(singer_db):
    # 20 values of 1 MB: fits in a 128 MiB child, but not under its 16 MiB result cap.
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 20) "
        "SELECT printf('%.*c', 1000000, 'x') FROM c"
    )
    outcome = run_query(singer_db, sql, timeout_s=10, memory_mib=128)
    assert outcome.status == "memory"
    assert "result larger than 16 MiB" in outcome.error
    assert run_query(singer_db, sql.replace("LIMIT 20", "LIMIT 5"), memory_mib=128).ok


def test_value_length_limit_is_a_memory_failure(singer_db):
    outcome = run_query(singer_db, "SELECT zeroblob(1000000000)")
    assert outcome.status == "memory"
    assert "per value" in outcome.error


def test_cpu_limit_ends_the_child_if_nobody_kills_it(singer_db, monkeypatch):
    # With the parent's kill postponed, RLIMIT_CPU (at most timeout_s + 2 s) ends the child.
    monkeypatch.setattr(sql_sandbox, "KILL_GRACE_S", 30.0)
    outcome, elapsed = timed(lambda: run_query(singer_db, INSTR, timeout_s=TIMEOUT_S))
    assert outcome.status == "timeout"
    assert "SIGXCPU" in outcome.error
    assert elapsed < TIMEOUT_S + 10


def test_sandbox_recovers_after_a_kill(singer_db):
    with SqlSandbox(singer_db, timeout_s=TIMEOUT_S) as box:
        first_child = box._child[0].proc
        assert box.execute(INSTR).status == "timeout"
        assert first_child.returncode == -signal.SIGKILL
        assert box.execute("SELECT count(*) FROM singer").rows == ((5,),)


def test_batch_with_a_runaway_query_in_the_middle(singer_db):
    sqls = ["SELECT 1", "SELECT 2", INSTR, "SELECT 3", "DROP TABLE singer", "SELECT count(*) FROM singer"]
    with SqlSandbox(singer_db, timeout_s=TIMEOUT_S) as box:
        outcomes, elapsed = timed(lambda: list(box.execute_many(sqls)))
    assert [o.status for o in outcomes] == ["ok", "ok", "timeout", "ok", "refused", "ok"]
    assert [o.rows for o in outcomes if o.ok] == [((1,),), ((2,),), ((3,),), ((5,),)]
    assert elapsed < TIMEOUT_S + SLACK_S


def test_batch_read_slowly_keeps_finished_results(singer_db):
    # The child runs ahead; a reply that waited in the pipe past its deadline still counts.
    with SqlSandbox(singer_db, timeout_s=0.2) as box:
        outcomes = box.execute_many(["SELECT 1", "SELECT 2", "SELECT 3"])
        assert next(outcomes).rows == ((1,),)
        time.sleep(0.8)
        assert [o.rows for o in outcomes] == [((2,),), ((3,),)]


def test_batch_abandoned_early_leaves_the_sandbox_usable(singer_db):
    with SqlSandbox(singer_db, timeout_s=TIMEOUT_S) as box:
        outcomes = box.execute_many(f"SELECT {i}" for i in range(100))
        assert next(outcomes).rows == ((0,),)
        outcomes.close()
        assert box.execute("SELECT 42").rows == ((42,),)


def test_children_are_gone_after_close(singer_db):
    box = SqlSandbox(singer_db)
    proc = box._child[0].proc
    assert box.execute("SELECT 1").ok
    box.close()
    assert proc.returncode is not None
    with pytest.raises(ValueError, match="closed"):
        box.execute("SELECT 1")


def test_a_subverted_child_cannot_make_the_parent_run_code():
    evil = pickle.dumps(os.system)  # a reference to a function: what a code-running pickle needs
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        sql_sandbox._load_plain(evil)


def test_a_malformed_reply_is_an_error_outcome(singer_db, monkeypatch):
    with SqlSandbox(singer_db) as box:
        monkeypatch.setattr(sql_sandbox, "_outcome", lambda reply: sql_sandbox._load_plain(pickle.dumps(os.system)))
        outcome = box.execute("SELECT 1")
        monkeypatch.undo()
        assert outcome.status == "error" and "unreadable reply" in outcome.error
        assert box.execute("SELECT 1").rows == ((1,),)


@pytest.mark.parametrize(
    "sql, status",
    [
        ("SELECT '\ud800'", "error"),  # not encodable as UTF-8
        ("SELECT '" + "x" * 1_000_001 + "'", "refused"),  # over the SQL length limit
        (None, "refused"),
    ],
    ids=["lone_surrogate", "over_1MB", "not_a_string"],
)
def test_unsendable_sql_is_an_outcome_not_an_exception(singer_db, sql, status):
    assert run_query(singer_db, sql).status == status


def _wal_db(path):
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    conn.commit()
    return conn


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_wal_database_gets_no_side_files(tmp_path):
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    _wal_db(db_dir / "wal.sqlite").close()  # the last close checkpoints and removes -wal and -shm
    before = _snapshot(db_dir)
    assert list(before) == ["wal.sqlite"]
    with SqlSandbox(db_dir / "wal.sqlite", timeout_s=TIMEOUT_S) as box:
        assert box.execute("SELECT count(*) FROM t").rows == ((10,),)
        assert not box.execute("PRAGMA wal_checkpoint").ok
        assert box.execute(INSTR).status == "timeout"  # killed mid-query: still nothing left behind
        assert box.execute("SELECT sum(x) FROM t").rows == ((45,),)
        assert _snapshot(db_dir) == before
    assert _snapshot(db_dir) == before


def test_wal_database_with_uncheckpointed_data(tmp_path):
    # A writer still has the database open: committed rows live only in the -wal file.
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    writer = _wal_db(db_dir / "live.sqlite")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO t VALUES (100)")
    writer.commit()
    before = _snapshot(db_dir)
    assert (db_dir / "live.sqlite-wal").stat().st_size > 0
    try:
        with SqlSandbox(db_dir / "live.sqlite") as box:
            assert box.execute("SELECT count(*), max(x) FROM t").rows == ((11, 100),)
            private = box._open_path.parent
            assert private != db_dir
        assert not private.exists()
        assert _snapshot(db_dir) == before
    finally:
        writer.close()


def test_hot_rollback_journal_is_rolled_back_on_a_private_copy(tmp_path):
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    path = db_dir / "hot.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
    conn.commit()
    conn.close()
    # A writer that dies mid-transaction, after spilling changes into the file itself.
    crash = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA cache_size = 1')\n"
        "conn.execute('BEGIN')\n"
        "conn.execute('UPDATE t SET x = -1')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(path)], check=True)
    assert (db_dir / "hot.sqlite-journal").exists()
    before = _snapshot(db_dir)
    assert run_query(path, "SELECT count(*) FROM t WHERE x = -1").rows == ((0,),)
    assert _snapshot(db_dir) == before


def test_metric_on_wal_database_leaves_directory_unchanged(tmp_path):
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    _wal_db(db_dir / "wal.sqlite").close()
    before = _snapshot(db_dir)
    result = metrics.compute(
        "execution_accuracy",
        ["SELECT count(*) FROM t", INSTR, "SELECT max(x) FROM t"],
        ["SELECT 10", "SELECT 1", "SELECT 9"],
        db=db_dir / "wal.sqlite",
        timeout_s=TIMEOUT_S,
    )
    assert result.details["per_example"] == ["correct", "timeout", "correct"]
    assert _snapshot(db_dir) == before


def test_the_child_runs_without_the_package():
    # The child execs _sql_child.py alone: an import of pytest_cegi there would fail in
    # the child (the package is not on its path) or double its start-up time.
    import ast

    from pytest_cegi.metrics import _sql_child

    tree = ast.parse(Path(_sql_child.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m.split(".")[0] for m in imported} <= set(sys.stdlib_module_names) | {"__future__"}
