"""The SQL sandbox's child side (see sql_sandbox.py): opens the database read-only
behind an authorizer and limits, then answers queries framed on its pipes.

The child runs this file on its own, without the pytest_cegi package (whose imports
would double its start-up time): it imports the standard library only.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import signal
import sqlite3
import struct
import sys
import time

DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
_ALWAYS_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
_PROGRESS_EVERY = 1000  # SQLite VM instructions between deadline checks

MAX_VALUE_BYTES = 10_000_000  # SQLITE_LIMIT_LENGTH: longest string/blob/row
MAX_SQL_BYTES = 1_000_000  # SQLITE_LIMIT_SQL_LENGTH
TEMP_FILE_MIB = 4096  # largest temporary (sort/spill) file the child may write
_FETCH_CHUNK = 256  # rows per fetch; each chunk is pickled, then counted
_FRAME = struct.Struct("!Q")  # length prefix of every message between parent and child


def max_result_bytes(memory_mib: int) -> int:
    """Largest result (pickled rows) a child with `memory_mib` MiB sends back: an eighth of it."""
    return (memory_mib << 20) // 8


# Outcome statuses.
OK, ERROR, DENIED, REFUSED, TIMEOUT, TOO_MANY_ROWS, MEMORY = (
    "ok",
    "error",
    "denied",
    "refused",
    "timeout",
    "too_many_rows",
    "memory",
)


def _authorize(action: int, arg1, arg2, _db, _source) -> int:
    if action in _ALWAYS_ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _decode(raw: bytes) -> str:
    # A database with broken UTF-8 must not turn a correct query into an error.
    return raw.decode("utf-8", "replace")


def _connect(uri: str) -> sqlite3.Connection:
    """A locked-down connection to a ``file:`` URI (layers 4 and 5)."""
    if sys.version_info < (3, 11):
        # Connection.setlimit is new in 3.11; without it the sandbox would lack a layer,
        # so it refuses to open (every query fails, as it already did with an AttributeError).
        raise RuntimeError("the SQL sandbox needs Python 3.11 or newer (sqlite3 Connection.setlimit)")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.text_factory = _decode
    conn.execute("PRAGMA query_only = ON")  # belt and braces; set before the authorizer
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
    conn.set_authorizer(_authorize)
    return conn


def _lower_limit(which: int, value: int) -> None:
    """Set soft and hard limit to `value`, or keep a stricter limit already in place."""
    _, hard = resource.getrlimit(which)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(which, (value, value))


def _limit_child(memory_mib: int) -> None:
    """Hard bounds on this (child) process: address space, temp file size, no core dumps."""
    _lower_limit(resource.RLIMIT_AS, memory_mib << 20)
    _lower_limit(resource.RLIMIT_FSIZE, TEMP_FILE_MIB << 20)
    _lower_limit(resource.RLIMIT_CORE, 0)
    # Over-long writes then fail with EFBIG (an SQLite error) instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _cap_cpu(seconds: float, hard: int) -> None:
    """Let this process use about `seconds` more CPU time, then SIGXCPU ends it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


class _Runner:
    """Executes one query at a time on the child's connection; replies are plain tuples."""

    def __init__(self, uri: str, timeout_s: float, max_rows: int, memory_mib: int):
        self.timeout_s, self.max_rows, self.memory_mib = timeout_s, max_rows, memory_mib
        self.max_result_bytes = max_result_bytes(memory_mib)
        self._cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        self._deadline = float("inf")
        self._conn = _connect(uri)
        self._conn.set_progress_handler(self._past_deadline, _PROGRESS_EVERY)

    def _past_deadline(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    def run(self, sql: str) -> tuple:
        """(status, error, elapsed_s, pickled row chunks)."""
        start = time.perf_counter()
        self._deadline = start + self.timeout_s
        _cap_cpu(self.timeout_s, self._cpu_hard)
        cursor = self._conn.cursor()
        try:
            return self._fetch(cursor, sql, start)
        except sqlite3.ProgrammingError as exc:  # e.g. "You can only execute one statement at a time."
            return REFUSED, str(exc), time.perf_counter() - start, []
        except sqlite3.Error as exc:
            return self._failure(exc, start)
        except MemoryError:
            return MEMORY, f"needed more than the {self.memory_mib} MiB memory limit", time.perf_counter() - start, []
        except (OverflowError, ValueError) as exc:
            return ERROR, f"{type(exc).__name__}: {exc}", time.perf_counter() - start, []
        finally:
            cursor.close()
            self._deadline = float("inf")

    def _fetch(self, cursor: sqlite3.Cursor, sql: str, start: float) -> tuple:
        cursor.execute(sql)
        parts: list[bytes] = []
        count = size = 0
        while count <= self.max_rows:
            chunk = cursor.fetchmany(min(_FETCH_CHUNK, self.max_rows + 1 - count))
            if not chunk:
                break
            count += len(chunk)
            parts.append(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
            size += len(parts[-1])
            if size > self.max_result_bytes:
                return (
                    MEMORY,
                    f"result larger than {self.max_result_bytes >> 20} MiB",
                    time.perf_counter() - start,
                    [],
                )
        elapsed = time.perf_counter() - start
        if count > self.max_rows:
            return TOO_MANY_ROWS, f"more than max_rows={self.max_rows} rows", elapsed, []
        return OK, None, elapsed, parts

    def _failure(self, exc: sqlite3.Error, start: float) -> tuple:
        elapsed = time.perf_counter() - start
        message = str(exc)
        if "interrupted" in message and elapsed >= self.timeout_s:
            return TIMEOUT, f"exceeded the {self.timeout_s:g} s time limit", elapsed, []
        if "not authorized" in message or "prohibited" in message:
            return DENIED, message, elapsed, []
        if "too big" in message:
            return MEMORY, f"{message} (limit {MAX_VALUE_BYTES:,} bytes per value)", elapsed, []
        return ERROR, message, elapsed, []


def _read_request(stream) -> bytes | None:
    """The next framed request, or None once the parent has closed the pipe."""
    header = stream.read(_FRAME.size)
    if len(header) < _FRAME.size:
        return None
    size = _FRAME.unpack(header)[0]
    request = stream.read(size)
    return request if len(request) == size else None


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _serve(uri: str, timeout_s: str, max_rows: str, memory_mib: str) -> None:
    """The child's main loop: one UTF-8 query in, one pickled reply out, until stdin closes."""
    _limit_child(int(memory_mib))
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print must not corrupt the replies
    try:
        runner = _Runner(uri, float(timeout_s), int(max_rows), int(memory_mib))
        broken = None
    except Exception as exc:  # reported with every query, so no query can pass
        runner, broken = None, f"could not open the database: {type(exc).__name__}: {exc}"
    _write_frame(reply_fd, pickle.dumps(broken))
    with open(0, "rb", closefd=False) as requests:  # buffered: usually one read() per request
        while (request := _read_request(requests)) is not None:
            reply = runner.run(request.decode("utf-8")) if runner else (ERROR, broken, 0.0, [])
            try:
                payload = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
            except MemoryError:
                payload = pickle.dumps((MEMORY, "no memory left to send the result", reply[2], []))
            del reply
            _write_frame(reply_fd, payload)
