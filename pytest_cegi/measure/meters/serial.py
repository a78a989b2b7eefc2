"""Serialise measured windows across pytest-xdist workers on one machine.

RAPL, NVML and codecarbon's CPU-load model all read machine-wide counters: two
workers measuring at once would each be charged for both. Holding an exclusive
file lock for the length of a window means only one window is open per machine
and run at a time; unmeasured work (collection, loading, scoring) still runs in
parallel. The lock is taken before the window opens, so waiting is never charged.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from pytest_cegi.core.window import WindowHandle


def lock_path(testrun_uid: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"pytest-cegi-{testrun_uid}.lock")


class SerializedMeter:
    """Wraps a meter so that its windows never overlap those of sibling workers."""

    def __init__(self, meter, path: str):
        self._meter = meter
        self._path = path
        self.name = meter.name
        self.traits = meter.traits

    def method(self):
        return self._meter.method()

    def cache_identity(self) -> str:
        return self._meter.cache_identity()

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[WindowHandle]:
        import fcntl  # POSIX only; xdist on Windows runs unserialised (see docs/scale-out.md)

        with open(self._path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                with self._meter.window(phase) as handle:
                    yield handle
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def close(self) -> None:
        self._meter.close()
