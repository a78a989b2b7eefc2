"""Run untrusted, model-written Python (a sample plus its test) without letting it do harm.

    box = CodeSandbox(timeout_s=2)
    outcome = box.run("def add(a, b):\\n    return a + b", "assert add(2, 3) == 5")
    outcome.status  # "passed", "failed", "timeout" or "error"; outcome.why says why

Each sample gets a fresh interpreter, ``python -I -S -B``, started under
``unshare -r -n -m -p`` in a new session, with an environment of five variables. Inside
(see `_sandbox_child`):

- **processes**: the sample runs as PID 1 of its own PID namespace, watched by a
  supervisor it cannot see. At the deadline, or when the namespace holds more than
  `max_processes` processes or `memory_mb` of resident memory, the supervisor kills it
  and the kernel kills everything left in the namespace (daemons, setsid + double
  fork) before the result comes back. The parent kills the whole process group as a
  backstop, and the sample dies with the supervisor. rlimits: address space, processes,
  file size, open files, CPU time, no cores. RLIMIT_NPROC does not bind root, so the
  namespace's PID range is narrowed to `max_processes` PIDs where the kernel allows it
  (per-namespace pid_max, Linux 6.14+);
- **network**: a new network namespace whose only interface (loopback) is down;
- **filesystem**: a mount namespace whose root (pivot_root) is a new, read-only tree
  holding only /usr, /bin, /lib*, /sbin, the interpreter's prefix, five /etc files and
  five /dev nodes, all bound read-only, plus a private tmpfs working directory that
  disappears with the sample. Home directories, /tmp, /run and host sockets are absent.
  Landlock (where the kernel has it) independently allows writes only in the working
  directory, denies TCP, and stops signals and abstract sockets from leaving the sandbox;
- **privileges**: every capability dropped (bounding set included), no_new_privs.

Where namespaces are unavailable, `CodeSandbox` refuses to run (`SandboxUnavailable`)
unless built with ``allow_unsandboxed=True``, which keeps only the time limit, rlimits,
the stripped environment and a temporary working directory.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_cegi.metrics.base import MetricError

PASSED, FAILED, TIMEOUT, ERROR = "passed", "failed", "timeout", "error"
UNSHARE_FLAGS = ("-r", "-n", "-m", "-p")  # user (root mapped to you), network, mount, PID
OPT_IN = "allow_unsandboxed=True"
_SETUP_S = 10.0  # building the box (interpreter start, mounts) before the sample's clock starts
_MARGIN_S = 2.0  # the parent's backstop beyond the supervisor's own deadline


class SandboxUnavailable(MetricError):
    """Strong isolation cannot be set up here; nothing was run."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 5.0  # wall clock for sample + test, after the box is built
    memory_mb: int = 512  # address space per process, and resident memory of all together
    max_processes: int = 32  # processes and threads at once
    max_file_mb: int = 16  # largest file the sample may write
    max_open_files: int = 64
    disk_mb: int = 64  # size of the private working directory

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            kinds = (int, float) if name == "timeout_s" else (int,)
            if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
                what = "number" if name == "timeout_s" else "int"
                raise MetricError(f"code sandbox: {name} must be a positive {what}, got {value!r}")


@dataclass(frozen=True)
class SampleOutcome:
    status: str  # PASSED, FAILED, TIMEOUT or ERROR
    why: str = ""  # exception type and message (truncated), or the limit that was hit
    elapsed_s: float = 0.0
    box: dict = field(default_factory=dict)  # what the sandbox applied (landlock ABI, PID cap)

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@functools.lru_cache(maxsize=1)
def _child_source() -> str:
    return (Path(__file__).with_name("_sandbox_child.py")).read_text(encoding="utf-8")


def _minimal_env(workdir: str) -> dict:
    # Nothing of the parent's environment (tokens, credentials) reaches the sample.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _keep_paths(python: str) -> list[str]:
    """Directories the interpreter needs, so they are never hidden."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(python)}
    return sorted({os.path.realpath(p) for p in paths} | paths)


class CodeSandbox:
    """Runs (sample, test) pairs one at a time, each in a fresh sandbox."""

    def __init__(self, *, allow_unsandboxed: bool = False, python: str | None = None, **limits):
        self.limits = SandboxLimits(**limits)
        self.python = python or sys.executable
        self.allow_unsandboxed = bool(allow_unsandboxed)
        problem = isolation_problem(self.python)
        if problem and not self.allow_unsandboxed:
            raise SandboxUnavailable(
                f"cannot isolate untrusted code here: {problem}. Pass {OPT_IN} to run it with only "
                f"time, memory and process limits (the code could then read and change your files "
                f"and use the network)"
            )
        self.isolated = problem is None

    def describe(self) -> str:
        if self.isolated:
            return (
                "unshare -r -n -m -p; read-only minimal root + private tmpfs workdir; "
                "landlock where available; seccomp; no capabilities; rlimits"
            )
        return "UNSANDBOXED (allow_unsandboxed=True): rlimits, time limit and a temporary directory only"

    def run(self, code: str, test: str) -> SampleOutcome:
        return _run(code, test, self.limits, self.python, isolate=self.isolated)


def _request(code: str, test: str, limits: SandboxLimits, workdir: str, python: str, isolate: bool) -> bytes:
    child_limits = {**asdict(limits), "setup_s": _SETUP_S}
    # The host's empty temp dir is the mount point of the new root; inside that root the
    # private working directory sits at the same path, so HOME and tracebacks agree.
    return json.dumps(
        {
            "code": code,
            "test": test,
            "workdir": workdir,
            "root": workdir,
            "isolate": isolate,
            "keep": _keep_paths(python),
            "limits": child_limits,
        }
    ).encode()


def _argv(python: str, isolate: bool) -> list[str]:
    interpreter = [python, "-I", "-S", "-B", "-c", _child_source()]
    if not isolate:
        return interpreter
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin") or "unshare"
    return [unshare, *UNSHARE_FLAGS, *interpreter]


def _run(code: str, test: str, limits: SandboxLimits, python: str, *, isolate: bool) -> SampleOutcome:
    if not isinstance(code, str) or not isinstance(test, str):
        return SampleOutcome(ERROR, f"sample and test must be strings, got {type(code).__name__}")
    workdir = tempfile.mkdtemp(prefix="cegi-sample-")
    try:
        proc = subprocess.Popen(
            _argv(python, isolate),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=_minimal_env(workdir),
            start_new_session=True,
            close_fds=True,
        )
        request = _request(code, test, limits, workdir, python, isolate)
        backstop = limits.timeout_s + _SETUP_S + _MARGIN_S
        try:
            out, err = proc.communicate(request, timeout=backstop)
        except subprocess.TimeoutExpired:
            # The supervisor enforces the limit itself; this is the backstop. Killing it
            # kills the sample too (its parent-death signal). Not yet reaped, so the
            # group id cannot belong to anyone else.
            _kill_group(proc.pid)
            proc.communicate()
            return SampleOutcome(TIMEOUT, f"the sandbox did not finish within {backstop:g} s; killed")
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        return _parse(out, err, proc.returncode, isolate)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


def _parse(out: bytes, err: bytes, returncode: int, isolate: bool) -> SampleOutcome:
    try:
        result = json.loads(out.decode("utf-8", "replace"))
    except ValueError:
        stderr = err.decode("utf-8", "replace").strip()[-500:]
        message = f"the sandbox failed to start (exit status {returncode}): {stderr or 'no message'}"
        if isolate:
            raise SandboxUnavailable(message) from None
        return SampleOutcome(ERROR, message)
    if result.get("status") == "setup_error":
        raise SandboxUnavailable(f"the sandbox could not be built: {result.get('why')}")
    status = result.get("status")
    if status not in (PASSED, FAILED, TIMEOUT, ERROR):
        return SampleOutcome(ERROR, f"unexpected sandbox result {str(result)[:200]}")
    return SampleOutcome(
        status, str(result.get("why", ""))[:500], float(result.get("elapsed_s", 0.0)), result.get("box") or {}
    )


@functools.lru_cache(maxsize=4)
def isolation_problem(python: str | None = None) -> str | None:
    """None when the full sandbox works here, else why not (checked once per interpreter)."""
    if sys.platform != "linux":
        return f"namespaces need Linux, this is {sys.platform}"
    if not shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin"):
        return "the `unshare` program (util-linux) is not installed"
    try:
        outcome = _run("pass", "pass", SandboxLimits(timeout_s=5.0), python or sys.executable, isolate=True)
    except SandboxUnavailable as exc:
        return str(exc)
    if outcome.status != PASSED:
        return f"a trivial sample did not pass in the sandbox ({outcome.status}: {outcome.why})"
    return None


__all__ = ["CodeSandbox", "SampleOutcome", "SandboxLimits", "SandboxUnavailable", "isolation_problem"]
