"""Duet pacing: two pytest sessions (base and head) step through their repeats together.

A duet runs the baseline's code and the pull request's code at the same time on one
runner, so a neighbour's burst hits both (Bulej et al., "Duet Benchmarking", ICPE
2020). Running at the same time is not enough: the two sessions drift apart by
seconds, and a 10-30 s burst would then meet one repeat of one side only. So before
each measured repeat, each session waits for the other at a barrier: a file per
side and step in a shared folder. The later side finds the other's file at once,
the earlier one polls for it every millisecond, so repeat i of both sides starts
within about a millisecond.

Each file holds the test and repeat the side is about to measure; a step whose two
labels differ (the sides run different tests) is out of step, and the window says
so. A side that waits longer than the timeout (the other side failed, or has fewer
tests) stops pacing for the rest of its session rather than waiting again.

`CEGI_DUET_MODE=alternate` takes turns instead: at each step one side measures its
repeat while the other waits, then the other; base goes first at odd steps and head at
even ones (ABBA), so neither always measures right after the other. That is the mode for one GPU:
two processes on one GPU slow each other down, and NVML's energy counter is the whole
device's, so measured together each side's window would hold both sides' energy.
Alternating, each window holds its own side's work alone, and repeat i of both sides
still lie seconds apart (docs/ci-gate.md, "Duet on a GPU runner").

Set by benchmarks/scripts/ab_energy.py --duet (and gate_power.py --duet); not a
user-facing option:

    CEGI_DUET_DIR      the shared folder (empty at the start)
    CEGI_DUET_ROLE     base or head
    CEGI_DUET_MODE     together (default) or alternate
    CEGI_DUET_CORES    two CPU ids, "0,1": together, the sides swap these cores at every
                       step (base on the first at odd steps, head at even ones), so a
                       neighbour camping on one core slows each side's repeats alike
    CEGI_DUET_TIMEOUT  seconds to wait for the other side (default 120)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

ROLES = ("base", "head")
MODES = ("together", "alternate")
POLL_S = 0.001


class DuetError(ValueError):
    """A duet environment that cannot work (unknown role, no folder)."""


@dataclass
class DuetPacer:
    folder: Path
    role: str
    timeout_s: float = 120.0
    mode: str = "together"
    cores: tuple[int, int] | None = None  # swapped at every step (together mode)
    step: int = 0
    in_step: int = 0
    out_of_step: int = 0
    gave_up: bool = False
    waited_s: float = 0.0  # time spent waiting for the other side, outside every window

    @classmethod
    def from_env(cls) -> DuetPacer | None:
        folder = os.environ.get("CEGI_DUET_DIR")
        if not folder:
            return None
        role = os.environ.get("CEGI_DUET_ROLE", "")
        if role not in ROLES:
            raise DuetError(f"CEGI_DUET_ROLE must be one of {', '.join(ROLES)} when CEGI_DUET_DIR is set, got {role!r}")
        if not Path(folder).is_dir():
            raise DuetError(f"CEGI_DUET_DIR {folder!r} is not a folder")
        mode = os.environ.get("CEGI_DUET_MODE", "together")
        if mode not in MODES:
            raise DuetError(f"CEGI_DUET_MODE must be one of {', '.join(MODES)}, got {mode!r}")
        try:
            timeout = float(os.environ.get("CEGI_DUET_TIMEOUT", "120"))
        except ValueError:
            raise DuetError(
                f"CEGI_DUET_TIMEOUT must be a number of seconds, got {os.environ['CEGI_DUET_TIMEOUT']!r}"
            ) from None
        return cls(Path(folder), role, timeout, mode, _cores(os.environ.get("CEGI_DUET_CORES"), mode))

    @property
    def other(self) -> str:
        return ROLES[1 - ROLES.index(self.role)]

    def wait(self, label: str) -> bool:
        """Arrive at the next step and wait until this side may measure: with the other
        side (together), or after it (alternate, head's turn) or before it (base's).
        True when both sides measure the same label at this step."""
        if self.gave_up:
            return False
        self.step += 1
        self._mark(f"{self.role}-{self.step}", label)
        # together: both arrived. alternate: the side going first goes once the other has
        # arrived (so the other is not measuring: it finished its last turn before
        # arriving); the side going second goes once the first is done.
        awaited = f"{self.other}-{self.step}"
        if self.mode == "alternate" and not self.goes_first():
            awaited += ".done"
        theirs = self._await(awaited)
        if theirs is None:
            return False
        core = self.core()
        if core is not None:
            _pin_process(core)
        together = theirs == label
        if together:
            self.in_step += 1
        else:
            self.out_of_step += 1
        return together

    def goes_first(self) -> bool:
        """alternate: base goes first at odd steps, head at even ones (ABBA order), so
        neither side always measures right after the other (warm caches, a clock ramp)."""
        return (self.step % 2 == 1) == (self.role == "base")

    def core(self) -> int | None:
        """The core this side measures the current step on, when swapping: base on the
        first core at odd steps, head on it at even ones, so they never share one."""
        if self.cores is None or self.mode != "together":
            return None
        return self.cores[(self.step + ROLES.index(self.role)) % 2]

    def done(self) -> None:
        """This side's repeat of the current step is measured (alternate: the other's turn)."""
        if self.mode == "alternate" and not self.gave_up and self.step:
            self._mark(f"{self.role}-{self.step}.done", self._label_of(f"{self.role}-{self.step}"))

    def _mark(self, name: str, label: str) -> None:
        mine = self.folder / name
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(label, encoding="utf-8")
        tmp.replace(mine)  # the other side never reads a half-written label

    def _label_of(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    def _await(self, name: str) -> str | None:
        path = self.folder / name
        started = time.perf_counter()
        while not path.exists():
            if time.perf_counter() - started > self.timeout_s:
                self.gave_up = True
                self.out_of_step += 1
                return None
            time.sleep(POLL_S)
        self.waited_s += time.perf_counter() - started
        return path.read_text(encoding="utf-8")


def pinnable_cores() -> list[int]:
    """The CPUs this process may be pinned to, or [] where the OS cannot pin (macOS,
    Windows: no sched_setaffinity); a duet then runs its sides unpinned."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return sorted(getaffinity(0)) if getaffinity is not None else []


def _cores(text: str | None, mode: str) -> tuple[int, int] | None:
    if not text:
        return None
    if mode != "together":
        raise DuetError(f"CEGI_DUET_CORES {text!r} applies to CEGI_DUET_MODE=together only (the sides take turns)")
    try:
        first, second = (int(x) for x in text.split(","))
    except ValueError:
        raise DuetError(f"CEGI_DUET_CORES must be two CPU ids such as '0,1', got {text!r}") from None
    available = set(pinnable_cores())
    if first == second or not {first, second} <= available:
        raise DuetError(f"CEGI_DUET_CORES {text!r}: two different CPUs of this process's {sorted(available)}")
    return first, second


def _pin_process(core: int) -> None:
    """Every thread of this process onto `core` (sched_setaffinity(0) moves only the caller)."""
    for task in Path("/proc/self/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {core})
        except OSError:  # a thread that ended meanwhile
            continue
