"""Run untrusted, model-generated SQL against a SQLite file without letting it do harm.

Usable on its own:

    with SqlSandbox("shop.sqlite", timeout_s=2, max_rows=10_000) as box:
        outcome = box.execute("SELECT name FROM customers")
        outcome.ok, outcome.rows, outcome.status, outcome.error

Queries run in a child process, one per open sandbox, reused from query to query. Layers,
each enough on its own for most attacks, together for defence in depth:

1. Bounds that hold whatever SQLite does (some single built-in calls, such as ``instr``
   on two long strings, never reach SQLite's progress handler):
   - the child is killed (its whole process group) once a query runs past
     ``timeout_s + KILL_GRACE_S``, and a fresh child takes over the next query;
   - the child's address space is limited (``RLIMIT_AS``) to ``memory_mib`` MiB;
   - its CPU time (``RLIMIT_CPU``) to at most ``timeout_s + 2`` s per query, in case the
     parent is gone and nobody is left to kill it; each temporary file it writes
     (``RLIMIT_FSIZE``) to ``TEMP_FILE_MIB`` MiB; it never dumps core.
   So a query returns within ``timeout_s + KILL_GRACE_S`` plus the time to kill and
   reap, the child never holds more than ``memory_mib`` MiB, and a result sent back is
   at most ``memory_mib / 8`` MiB of pickled rows (and ``max_rows`` rows).
2. The file is opened through a ``file:...?mode=ro&immutable=1`` URI, so SQLite neither
   writes nor creates anything next to it (no ``-wal``/``-shm``/``-journal`` files, even
   for WAL-mode databases). A database whose committed data still sits in a ``-wal``
   file, or which has a hot rollback journal, is first copied (with that file) into a
   private temporary directory and settled there; the original is only read.
3. Only statements that start with SELECT, WITH or VALUES are sent to SQLite at all;
   Python's sqlite3 already refuses a string holding several statements.
4. An authorizer allows reading tables, calling functions, and recursive CTEs, and
   denies everything else: writes, DDL, ATTACH/DETACH (which also stops
   ``VACUUM INTO 'file'``, allowed by SQLite on read-only databases), every PRAGMA
   including table-valued ones such as ``pragma_table_info()`` (the schema stays
   readable through ``sqlite_master``), transactions, and ``load_extension()``.
5. Connection limits: no attached databases, any one string/blob at most
   ``MAX_VALUE_BYTES`` (stops ``zeroblob(1e9)``), SQL text at most ``MAX_SQL_BYTES``.
6. A progress handler interrupts a statement that runs past ``timeout_s`` (counting
   the fetching of rows too), so an ordinary slow query ends without killing the child.

The parent reads replies with an unpickler that refuses every class and function, so
even a subverted child can only hand back plain data. A `SqlSandbox` is not thread-safe.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import pickle
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import weakref
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pytest_cegi.metrics._sql_child import (
    _FRAME,
    ERROR,
    MAX_SQL_BYTES,
    OK,
    REFUSED,
    TIMEOUT,
    _write_frame,
    max_result_bytes,
)
from pytest_cegi.metrics.sqltext import leading_keyword

ALLOWED_STATEMENTS = frozenset({"select", "with", "values"})
DEFAULT_MEMORY_MIB = 512  # the child's address-space limit
KILL_GRACE_S = 0.25  # past timeout_s, before the child is killed
_START_TIMEOUT_S = 30.0  # a child's start-up (not counted against any query)
_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")  # header of a hot rollback journal


@dataclass(frozen=True)
class QueryOutcome:
    status: str  # one of OK, ERROR, DENIED, REFUSED, TIMEOUT, TOO_MANY_ROWS, MEMORY
    rows: tuple | None = None  # result rows (tuples) when status is OK
    error: str | None = None  # why it did not run, for every other status
    elapsed_s: float = 0.0  # wall time of execute + fetch

    @property
    def ok(self) -> bool:
        return self.status == OK


# The child runs _sql_child.py as a file of its own: not as part of the pytest_cegi
# package, whose imports would double its start-up time.
_CHILD_FILE = str(Path(__file__).with_name("_sql_child.py"))
_BOOT = (
    "import sys\n"
    "source = open(sys.argv[1], encoding='utf-8').read()\n"
    "child = {'__name__': '_cegi_sql_child'}\n"
    "exec(compile(source, sys.argv[1], 'exec'), child)\n"
    "child['_serve'](*sys.argv[2:])\n"
)


class _PlainUnpickler(pickle.Unpickler):
    """Loads plain data only: a subverted child cannot make the parent import or call anything."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"the sandbox reply refers to {module}.{name}; refusing it")


def _load_plain(data: bytes):
    return _PlainUnpickler(io.BytesIO(data)).load()


class _ChildGone(Exception):
    """The child ended (or misbehaved) before replying."""


class _Child:
    """One sandbox child process and the pipes to it."""

    def __init__(self, db_path: Path, timeout_s: float, max_rows: int, memory_mib: int):
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- the child's stderr for its lifetime; closed in kill()
        args = [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            _BOOT,
            _CHILD_FILE,
            _readonly_uri(db_path),
            repr(timeout_s),
            str(max_rows),
            str(memory_mib),
        ]
        # A session of its own: killing the group kills all of it, and Ctrl-C stays with us.
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd="/", start_new_session=True
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are PIPEs
        self._stdin: IO[bytes] = self.proc.stdin
        self._stdout: IO[bytes] = self.proc.stdout
        self._poll = select.poll()
        self._poll.register(self._stdout.fileno(), select.POLLIN)
        self._buf = bytearray()  # bytes read from the child, not yet handed out
        self.started = False
        self.last_reply_at = 0.0  # when the child was last seen idle or finishing a query

    def start(self) -> str | None:
        """Wait for the child's ready message; returns why every query will fail, if it will."""
        ready = self.read_frame(time.perf_counter() + _START_TIMEOUT_S, 1 << 16)
        if ready is None:
            raise _ChildGone(f"did not start within {_START_TIMEOUT_S:g} s")
        self.started = True
        return _load_plain(ready)

    def send(self, request: bytes) -> None:
        with contextlib.suppress(BrokenPipeError):  # it died; reading its reply says how
            _write_frame(self._stdin.fileno(), request)

    def read_frame(self, deadline: float, limit: int) -> bytes | None:
        """The next reply, or None once `deadline` passes (raises _ChildGone)."""
        if not self._fill(_FRAME.size, deadline):
            return None
        size = _FRAME.unpack_from(self._buf)[0]
        if size > limit:
            raise _ChildGone(f"sent a {size:,}-byte reply, over the {limit:,}-byte limit")
        end = _FRAME.size + size
        if not self._fill(end, deadline):
            return None
        frame = bytes(self._buf[_FRAME.size : end])
        del self._buf[:end]
        self.last_reply_at = time.perf_counter()
        return frame

    def _fill(self, n: int, deadline: float) -> bool:
        """Read until the buffer holds n bytes (True) or the deadline passes (False)."""
        fd = self._stdout.fileno()
        while len(self._buf) < n:
            # Past the deadline still look once (poll 0 ms): a reply may be waiting unread.
            wait_ms = max(0, math.ceil((deadline - time.perf_counter()) * 1000))
            if not self._poll.poll(wait_ms):
                return False
            # At most 64 KiB past this frame: the read-ahead buffer stays small.
            data = os.read(fd, max(n - len(self._buf), 1 << 16))
            if not data:
                raise _ChildGone(self.death_note())
            self._buf += data
        return True

    def death_note(self) -> str:
        """How the child ended, with the end of what it wrote to stderr."""
        code = self.proc.wait()
        how = f"killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
        self._stderr.seek(0)
        tail = self._stderr.read()[-500:].decode("utf-8", "replace").strip()
        return f"{how}{': ' + tail if tail else ''}"

    def kill(self) -> None:
        # Only while not yet reaped: after wait() its pid (and group id) may belong to another process.
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._stdin.close()
        self._stdout.close()
        self._stderr.close()


def _readonly_uri(path: Path) -> str:
    # immutable=1: SQLite takes no locks and creates no -wal/-shm/-journal files.
    return f"{path.resolve().as_uri()}?mode=ro&immutable=1"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _hot_side_file(path: Path) -> bool:
    """True when committed data may live outside the main file: a WAL with frames, or a hot journal."""
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        return True
    journal = path.with_name(path.name + "-journal")
    if not journal.is_file():
        return False
    with journal.open("rb") as f:
        return f.read(len(_JOURNAL_MAGIC)) == _JOURNAL_MAGIC


def _settled_copy(path: Path, into: Path) -> Path:
    """Copy the database and its side files into `into`, and fold them into one file there."""
    for suffix in ("", "-wal", "-journal"):
        source = path.with_name(path.name + suffix)
        if source.is_file():
            shutil.copyfile(source, into / source.name)
    copy = into / path.name
    conn = sqlite3.connect(copy)  # replays the WAL or rolls back the hot journal: on the copy
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    return copy


def _stop(child: list, private_dir: str | None) -> None:
    # A function, not a method: weakref.finalize must not hold on to the sandbox.
    if child[0] is not None:
        child[0].kill()
        child[0] = None
    if private_dir is not None:
        shutil.rmtree(private_dir, ignore_errors=True)


class _Request:
    """One query of a batch: its bytes for the child, or its outcome once known."""

    __slots__ = ("payload", "outcome", "sent_at")

    def __init__(self, sql: object):
        prepared = _prepare(sql)
        self.payload = prepared if isinstance(prepared, bytes) else b""
        self.outcome: QueryOutcome | None = None if isinstance(prepared, bytes) else prepared
        self.sent_at: float | None = None  # None: not (or no longer) in the child's pipe


class SqlSandbox:
    """Executes untrusted single SELECT statements against one database, in a child process."""

    def __init__(
        self,
        db_path: str | os.PathLike,
        *,
        timeout_s: float = 5.0,
        max_rows: int = 10_000,
        memory_mib: int = DEFAULT_MEMORY_MIB,
    ):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        if memory_mib < 64:
            raise ValueError("memory_mib must be at least 64 (the child's interpreter needs ~20 MiB)")
        path = Path(db_path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"SQLite database not found: {path}")
        self.db_path = Path(db_path)
        self.timeout_s, self.max_rows, self.memory_mib = float(timeout_s), int(max_rows), int(memory_mib)
        self.max_result_bytes = max_result_bytes(self.memory_mib)
        private_dir = tempfile.mkdtemp(prefix="cegi-sql-") if _hot_side_file(path) else None
        try:
            self._open_path = _settled_copy(path, Path(private_dir)) if private_dir else path
        except BaseException:
            _stop([None], private_dir)
            raise
        self._broken: str | None = None  # why no query can run (the child cannot start or open the file)
        self._child: list[_Child | None] = [None]  # a cell shared with the finalizer
        self._finalizer = weakref.finalize(self, _stop, self._child, private_dir)
        self._spawn()  # boots while the caller gets its queries ready

    def execute(self, sql: str) -> QueryOutcome:
        (outcome,) = self.execute_many([sql])
        return outcome

    def execute_many(self, sqls: Iterable[str]) -> Generator[QueryOutcome, None, None]:
        """The outcome of each query, in order.

        Up to `_WINDOW` queries wait in the child's pipe, so it runs the next query while
        the caller looks at the last. Each query still gets `timeout_s` of its own,
        counted from when the child is free to start it.
        """
        pending: deque[_Request]
        sqls, pending = iter(sqls), deque()
        try:
            while True:
                self._top_up(pending, sqls)
                if not pending:
                    return
                yield self._next_outcome(pending)
        finally:
            if any(r.sent_at is not None for r in pending):
                self._replace()  # closed early: the child still owes replies nobody will read

    def _top_up(self, pending: deque[_Request], sqls: Iterator[str]) -> None:
        while len(pending) < _WINDOW:
            sql = next(sqls, _END)
            if sql is _END:
                break
            pending.append(_Request(sql))
        self._send(pending)

    def _send(self, pending: deque[_Request]) -> None:
        """Send unsent queries in order, keeping the bytes in flight under what a pipe holds."""
        in_flight = sum(len(r.payload) for r in pending if r.sent_at is not None)
        for request in pending:
            if request.outcome is not None or request.sent_at is not None:
                continue
            if in_flight and in_flight + len(request.payload) > _PIPE_BUDGET:
                break  # a blocked write would stop us from watching the clock
            child = self._ready_child()
            if child is None:
                request.outcome = QueryOutcome(ERROR, error=self._broken)
                continue
            child.send(request.payload)
            request.sent_at = time.perf_counter()
            in_flight += len(request.payload)

    def _ready_child(self) -> _Child | None:
        """The child, started; None when no query can run (see self._broken)."""
        child = self._child[0]
        if child is None:
            raise ValueError("this SqlSandbox is closed")
        if not child.started and self._broken is None:
            try:
                self._broken = child.start()
            except _ChildGone as exc:
                self._broken = f"the sandbox process {exc}"
        return None if self._broken else child

    def _next_outcome(self, pending: deque[_Request]) -> QueryOutcome:
        request = pending[0]
        if request.outcome is None and request.sent_at is None:
            self._send(pending)  # nothing before it is in flight, so it goes now
        if request.outcome is None:
            request.outcome = self._await(request, pending)
        pending.popleft()
        return request.outcome

    def _await(self, request: _Request, pending: deque[_Request]) -> QueryOutcome:
        child = self._child[0]
        assert child is not None and request.sent_at is not None, "awaited a query that was not sent"
        start = max(request.sent_at, child.last_reply_at)
        try:
            reply = child.read_frame(start + self.timeout_s + KILL_GRACE_S, self.max_result_bytes + (1 << 16))
        except _ChildGone as exc:
            self._restart(pending)
            return _crash_outcome(str(exc), time.perf_counter() - start)
        if reply is None:
            self._restart(pending)
            return QueryOutcome(
                TIMEOUT,
                error=f"exceeded the {self.timeout_s:g} s time limit (killed)",
                elapsed_s=time.perf_counter() - start,
            )
        try:
            return _outcome(reply)
        except Exception as exc:  # only a broken or subverted child sends such a reply
            self._restart(pending)
            return QueryOutcome(ERROR, error=f"unreadable reply from the sandbox process: {exc!r}")

    def _restart(self, pending: deque[_Request]) -> None:
        """A fresh child for the rest of the batch; queries sent to the old one go again."""
        self._replace()
        for request in pending:
            request.sent_at = None

    def _replace(self) -> None:
        """Kill the child and start the next one now, so it boots while we report."""
        if self._child[0] is not None:
            self._child[0].kill()
            self._spawn()

    def _spawn(self) -> None:
        self._child[0] = _Child(self._open_path, self.timeout_s, self.max_rows, self.memory_mib)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> SqlSandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_END = object()
_WINDOW = 8  # queries queued in the child at once
_PIPE_BUDGET = 32 << 10  # request bytes in flight; a Linux pipe holds 64 KiB


def _prepare(sql: object) -> QueryOutcome | bytes:
    """The bytes to send to the child, or the outcome of a query that is not even sent."""
    if not isinstance(sql, str):
        return QueryOutcome(REFUSED, error=f"not a SQL string: {type(sql).__name__}")
    keyword = leading_keyword(sql)
    if keyword not in ALLOWED_STATEMENTS:
        what = repr(keyword.upper()) if keyword else "an empty or unrecognised statement"
        return QueryOutcome(REFUSED, error=f"only SELECT/WITH/VALUES queries run here, not {what}")
    try:
        payload = sql.encode("utf-8")
    except UnicodeEncodeError as exc:
        return QueryOutcome(ERROR, error=f"the SQL text is not valid Unicode: {exc}")
    if len(payload) > MAX_SQL_BYTES:
        return QueryOutcome(REFUSED, error=f"SQL text of {len(payload):,} bytes, over the {MAX_SQL_BYTES:,}-byte limit")
    return payload


def _crash_outcome(note: str, elapsed: float) -> QueryOutcome:
    if "SIGXCPU" in note:
        return QueryOutcome(TIMEOUT, error=f"exceeded the CPU time limit ({note})", elapsed_s=elapsed)
    return QueryOutcome(ERROR, error=f"the query ended the sandbox process ({note})", elapsed_s=elapsed)


def _outcome(reply: bytes) -> QueryOutcome:
    status, error, elapsed, parts = _load_plain(reply)
    if status != OK:
        return QueryOutcome(status, error=error, elapsed_s=elapsed)
    rows: list = []
    for part in parts:
        rows.extend(_load_plain(part))
    return QueryOutcome(OK, rows=tuple(rows), elapsed_s=elapsed)


def run_query(
    db_path: str | os.PathLike,
    sql: str,
    *,
    timeout_s: float = 5.0,
    max_rows: int = 10_000,
    memory_mib: int = DEFAULT_MEMORY_MIB,
) -> QueryOutcome:
    """Run one untrusted query in a fresh sandbox."""
    with SqlSandbox(db_path, timeout_s=timeout_s, max_rows=max_rows, memory_mib=memory_mib) as box:
        return box.execute(sql)
