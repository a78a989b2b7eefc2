"""Run untrusted, model-generated SQL against a SQLite file without letting it do harm.

Usable on its own:

    with SqlSandbox("shop.sqlite", timeout_s=2, max_rows=10_000) as box:
        outcome = box.execute("SELECT name FROM customers")
        outcome.ok, outcome.rows, outcome.status, outcome.error

Layers, each enough on its own for most attacks, together for defence in depth:

1. The file is opened read-only through a ``file:...?mode=ro`` URI.
2. Only statements that start with SELECT, WITH or VALUES are sent to SQLite at all;
   Python's sqlite3 already refuses a string holding several statements.
3. An authorizer allows reading tables, calling functions, and recursive CTEs, and
   denies everything else: writes, DDL, ATTACH/DETACH (which also stops
   ``VACUUM INTO 'file'``, allowed by SQLite on read-only databases), every PRAGMA
   including table-valued ones such as ``pragma_table_info()`` (the schema stays
   readable through ``sqlite_master``), transactions, and ``load_extension()``.
4. Connection limits: no attached databases, strings/blobs capped (stops
   ``zeroblob(1e9)``-style memory bombs), bounded SQL length.
5. A progress handler aborts any statement that runs past its time limit, counting
   the fetching of rows too; at most ``max_rows`` rows are ever fetched.
"""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_cegi.metrics.sqltext import leading_keyword

ALLOWED_STATEMENTS = frozenset({"select", "with", "values"})
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
_ALWAYS_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
_PROGRESS_EVERY = 1000  # SQLite VM instructions between deadline checks

# Outcome statuses.
OK, ERROR, DENIED, REFUSED, TIMEOUT, TOO_MANY_ROWS = "ok", "error", "denied", "refused", "timeout", "too_many_rows"


@dataclass(frozen=True)
class QueryOutcome:
    status: str                     # one of OK, ERROR, DENIED, REFUSED, TIMEOUT, TOO_MANY_ROWS
    rows: tuple | None = None       # result rows (tuples) when status is OK
    error: str | None = None        # why it did not run, for every other status
    elapsed_s: float = 0.0          # wall time of execute + fetch

    @property
    def ok(self) -> bool:
        return self.status == OK


def _authorize(action: int, arg1, arg2, _db, _source) -> int:
    if action in _ALWAYS_ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _decode(raw: bytes) -> str:
    # A database with broken UTF-8 must not turn a correct query into an error.
    return raw.decode("utf-8", "replace")


def open_readonly(db_path: str | os.PathLike) -> sqlite3.Connection:
    """A locked-down read-only connection (layers 1, 3 and 4 above)."""
    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"SQLite database not found: {path}")
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn.text_factory = _decode
    conn.execute("PRAGMA query_only = ON")  # belt and braces; set before the authorizer
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000_000)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 1_000_000)
    conn.set_authorizer(_authorize)
    return conn


class SqlSandbox:
    """One read-only connection that executes untrusted single SELECT statements."""

    def __init__(self, db_path: str | os.PathLike, *, timeout_s: float = 5.0, max_rows: int = 10_000):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.db_path = Path(db_path)
        self.timeout_s = float(timeout_s)
        self.max_rows = int(max_rows)
        self._deadline = float("inf")
        self._conn = open_readonly(db_path)
        self._conn.set_progress_handler(self._past_deadline, _PROGRESS_EVERY)

    def _past_deadline(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    def execute(self, sql: str) -> QueryOutcome:
        if not isinstance(sql, str):
            return QueryOutcome(REFUSED, error=f"not a SQL string: {type(sql).__name__}")
        keyword = leading_keyword(sql)
        if keyword not in ALLOWED_STATEMENTS:
            what = repr(keyword.upper()) if keyword else "an empty or unrecognised statement"
            return QueryOutcome(REFUSED, error=f"only SELECT/WITH/VALUES queries run here, not {what}")
        start = time.perf_counter()
        self._deadline = start + self.timeout_s
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            rows: list = []
            while len(rows) <= self.max_rows:
                chunk = cursor.fetchmany(min(1000, self.max_rows + 1 - len(rows)))
                if not chunk:
                    break
                rows.extend(chunk)
        except sqlite3.ProgrammingError as exc:  # e.g. "You can only execute one statement at a time."
            return QueryOutcome(REFUSED, error=str(exc), elapsed_s=time.perf_counter() - start)
        except sqlite3.Error as exc:
            return self._failure(exc, start)
        except (MemoryError, OverflowError, ValueError) as exc:
            return QueryOutcome(ERROR, error=f"{type(exc).__name__}: {exc}", elapsed_s=time.perf_counter() - start)
        finally:
            cursor.close()
            self._deadline = float("inf")
        elapsed = time.perf_counter() - start
        if len(rows) > self.max_rows:
            return QueryOutcome(TOO_MANY_ROWS, error=f"more than max_rows={self.max_rows} rows", elapsed_s=elapsed)
        return QueryOutcome(OK, rows=tuple(rows), elapsed_s=elapsed)

    def _failure(self, exc: sqlite3.Error, start: float) -> QueryOutcome:
        elapsed = time.perf_counter() - start
        message = str(exc)
        if "interrupted" in message and elapsed >= self.timeout_s:
            return QueryOutcome(TIMEOUT, error=f"exceeded the {self.timeout_s:g} s time limit", elapsed_s=elapsed)
        if "not authorized" in message or "prohibited" in message:
            return QueryOutcome(DENIED, error=message, elapsed_s=elapsed)
        return QueryOutcome(ERROR, error=message, elapsed_s=elapsed)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "SqlSandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def run_query(db_path: str | os.PathLike, sql: str, *, timeout_s: float = 5.0, max_rows: int = 10_000) -> QueryOutcome:
    """Run one untrusted query in a fresh sandbox."""
    with SqlSandbox(db_path, timeout_s=timeout_s, max_rows=max_rows) as box:
        return box.execute(sql)
