"""A hostile corpus against the code sandbox.

Every attack must end as a failing sample (never "passed") within the time limit plus a
margin, leave the parent alive, leave files outside the sandbox byte-identical, and
leave no process behind. Attack processes carry a unique marker (in argv or their
process name) so the host's /proc can be searched for survivors.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from pytest_cegi.metrics.code_sandbox import CodeSandbox, SandboxUnavailable, isolation_problem

TIMEOUT = 1.0
MARGIN = 1.5  # killing the namespace and reporting, on a loaded 2-core machine
STARTUP = 5.0  # starting the interpreter and building the box, before the sample's clock

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux namespaces")


@pytest.fixture(scope="module")
def isolated():
    problem = isolation_problem()
    if problem:
        pytest.skip(f"no namespaces here: {problem}")


@pytest.fixture
def exposed(tmp_path, isolated):
    """A host directory the sandbox can see (read-only), holding a victim file.

    The sandbox exposes the directory of the interpreter it runs, so a symlink to this
    Python placed here makes the directory visible inside: attacks then hit a real
    file instead of a path that does not exist in the sandbox.
    """
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(os.path.realpath(sys.executable))
    victim = bindir / "victim.txt"
    victim.write_bytes(b"precious bytes\n" * 100)
    return bindir


@pytest.fixture
def box(exposed):
    return CodeSandbox(python=str(exposed / "python"), timeout_s=TIMEOUT, memory_mb=256)


def marker() -> str:
    return "cg" + uuid.uuid4().hex[:12]  # fits the 15 characters of a process name


def survivors(mark: str) -> list[int]:
    """Host PIDs whose command line or name carries `mark` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "comm").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if mark.encode() in blob and state != "Z":
            found.append(int(entry.name))
    return found


def sample_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("cegi-sample-*")}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_attack(box: CodeSandbox, code: str, test: str = "assert False, 'the attack did not raise'"):
    before = sample_dirs()
    start = time.monotonic()
    outcome = box.run(textwrap.dedent(code), test)
    wall = time.monotonic() - start
    assert outcome.status != "passed", outcome
    assert outcome.elapsed_s < TIMEOUT + MARGIN, outcome  # the sample's own time
    assert wall < TIMEOUT + MARGIN + STARTUP, (wall, outcome)
    assert sample_dirs() <= before, "the sandbox left its working directory behind"
    return outcome


# --- ordinary samples ------------------------------------------------------------------


def test_passing_failing_and_broken_samples(box):
    assert box.run("def add(a, b):\n    return a + b", "assert add(2, 3) == 5").status == "passed"
    failed = box.run("def add(a, b):\n    return a - b", "assert add(2, 3) == 5, 'wrong sum'")
    assert (failed.status, failed.why) == ("failed", "AssertionError: wrong sum")
    syntax = box.run("def add(a, b) return a", "assert add(1, 1) == 2")
    assert syntax.status == "error" and "SyntaxError" in syntax.why
    missing = box.run("x = 1", "assert add(1, 1) == 2")
    assert missing.status == "error" and "NameError" in missing.why and "in the test" in missing.why


def test_the_sample_can_use_the_stdlib_and_its_working_directory(box):
    code = """
        import collections, json, math, os, re, subprocess, sys
        with open("scratch.txt", "w") as fh:
            fh.write("ok")
        out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout
        def answer():
            return int(out) + len(open("scratch.txt").read()) - 2
    """
    outcome = box.run(textwrap.dedent(code), "assert answer() == 42")
    assert outcome.status == "passed", outcome
    assert outcome.box["landlock_abi"] >= 0


def test_multiprocessing_and_tempfile_work_privately(box):
    code = """
        import multiprocessing, os, tempfile
        def square(x):
            return x * x
        with multiprocessing.Pool(2) as pool:  # semaphores in a private /dev/shm
            squares = pool.map(square, [1, 2, 3])
        scratch = tempfile.mkdtemp()           # falls back to the working directory
    """
    outcome = box.run(textwrap.dedent(code), "assert squares == [1, 4, 9] and scratch.startswith(os.getcwd())")
    assert outcome.status == "passed", outcome


def test_the_why_is_truncated(box):
    outcome = box.run("raise ValueError('x' * 10_000)", "pass")
    assert outcome.status == "error" and len(outcome.why) < 400 and outcome.why.endswith("...")


# --- time and processes ----------------------------------------------------------------


def test_infinite_loop_times_out(box):
    outcome = run_attack(box, "while True:\n    pass")
    assert outcome.status == "timeout"


def test_infinite_loop_in_the_test_times_out(box):
    assert run_attack(box, "x = 1", "while x:\n    pass").status == "timeout"


def test_signal_handlers_do_not_delay_the_kill(box):
    code = """
        import signal, time
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            time.sleep(0.01)
    """
    assert run_attack(box, code).status == "timeout"


def test_fork_bomb_is_stopped_and_leaves_nothing(box):
    mark = marker()
    code = f"""
        import ctypes, os
        ctypes.CDLL(None).prctl(15, b"{mark}", 0, 0, 0)  # PR_SET_NAME, inherited by forks
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    outcome = run_attack(box, code)
    assert outcome.status in ("error", "timeout")
    assert survivors(mark) == []


def test_the_kernel_caps_processes_and_threads(box):
    # RLIMIT_NPROC does not bind root; the namespace's PID range does (Linux 6.14+).
    code = """
        import os, time
        children, err = 0, None
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                children += 1
        except OSError as exc:
            err = exc
    """
    outcome = box.run(textwrap.dedent(code), "assert children == 31 and isinstance(err, BlockingIOError)")
    if outcome.box.get("pid_cap"):
        assert outcome.status == "passed", outcome  # 31 children + the sample = max_processes
    else:  # an older kernel: the supervisor's count stops it
        assert outcome.status == "error" and "more than 32 processes" in outcome.why


def test_sleep_spray_and_daemons_do_not_outlive_the_sample(box):
    mark = marker()
    code = f"""
        import os, subprocess, sys
        sleeper = "import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\ntime.sleep(60)"
        for _ in range(4):
            subprocess.Popen([sys.executable, "-c", sleeper, "{mark}"], start_new_session=True)
        if os.fork() == 0:  # the classic daemon: setsid + double fork
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", sleeper, "{mark}"])
            os._exit(0)
        os.wait()
    """
    # The sample itself finishes at once; its test then fails.
    outcome = run_attack(box, code)
    assert outcome.status == "failed"
    assert survivors(mark) == []


def test_sleep_spray_then_hang_is_killed_with_everything(box):
    mark = marker()
    code = f"""
        import subprocess, sys, time
        for _ in range(4):
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{mark}"], start_new_session=True)
        time.sleep(60)
    """
    assert run_attack(box, code).status == "timeout"
    assert survivors(mark) == []


def test_killing_the_parent_fails_only_the_sample(box):
    parent = os.getpid()
    for code in (
        "import os\nos.kill(os.getppid(), 9)",
        f"import os\nos.kill({parent}, 9)",
        "import os\nos.kill(-1, 9)",
        f"import os\nos.killpg({os.getpgid(parent)}, 9)",
    ):
        run_attack(box, code)
    assert os.getpid() == parent  # still here


def test_exiting_early_is_not_a_pass(box):
    for code in ("import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise KeyboardInterrupt"):
        assert run_attack(box, code, test="pass").status == "error"


# --- memory, disk, descriptors ----------------------------------------------------------


def test_memory_bomb(box):
    outcome = run_attack(box, "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 2**20))")
    assert outcome.status == "error" and "MemoryError" in outcome.why


def test_memory_spread_over_processes_is_capped(box):
    code = """
        import os, time
        for _ in range(6):
            if os.fork() == 0:
                block = b"x" * (150 * 2**20)  # touched, so resident
                time.sleep(60)
        time.sleep(60)
    """
    outcome = run_attack(box, code)
    assert outcome.status == "error" and "MB together" in outcome.why


def test_file_size_and_descriptor_limits(box):
    assert "File too large" in run_attack(box, "open('big', 'wb').write(b'x' * 40 * 2**20)").why
    assert "Too many open files" in run_attack(box, "fds = [open('f%d' % i, 'w') for i in range(1000)]").why


# --- filesystem -----------------------------------------------------------------------


def test_writes_and_deletes_outside_the_workdir_fail(box, exposed, tmp_path):
    victim = exposed / "victim.txt"
    hidden = tmp_path / "hidden.txt"
    hidden.write_text("not even visible")
    before = {p: digest(p) for p in (victim, hidden)}
    listing = sorted(os.listdir(exposed))
    attacks = [
        f"open({str(victim)!r}, 'w').write('pwned')",
        f"open({str(victim)!r}, 'ab').write(b'pwned')",
        f"import os\nos.truncate({str(victim)!r}, 0)",
        f"import os\nos.remove({str(victim)!r})",
        f"import os\nos.rename({str(victim)!r}, {str(exposed / 'moved.txt')!r})",
        f"import os\nos.chmod({str(victim)!r}, 0o777)",
        f"open({str(exposed / 'new.txt')!r}, 'w').write('new')",
        f"import os\nos.symlink('/etc/passwd', {str(exposed / 'link')!r})",
        f"open({str(hidden)!r}, 'w').write('pwned')",
        f"import shutil\nshutil.rmtree({str(tmp_path)!r})",
        "import os\nos.remove(os.__file__)",
        "open(os.__file__ if False else __import__('os').__file__, 'a').write('# pwned')",
        "open('/usr/evil.txt', 'w')",
        "open('/etc/passwd', 'a').write('evil::0:0::/:/bin/sh')",
    ]
    for code in attacks:
        run_attack(box, code)
    assert {p: digest(p) for p in (victim, hidden)} == before
    assert sorted(os.listdir(exposed)) == listing


def test_host_files_outside_the_exposed_tree_are_invisible(box):
    assert "FileNotFoundError" in run_attack(box, f"open({__file__!r}).read()").why
    assert "FileNotFoundError" in run_attack(box, f"import os\nos.listdir({os.path.dirname(__file__)!r})").why
    # The home directory holds at most the path down to the interpreter (pyenv, a venv).
    home = Path.home()
    allowed = {
        Path(p).relative_to(home).parts[0] for p in (sys.prefix, sys.base_prefix) if Path(p).is_relative_to(home)
    }
    outcome = box.run(
        f"import os\nseen = set(os.listdir({str(home)!r})) if os.path.exists({str(home)!r}) else set()",
        f"assert seen <= {allowed!r}, seen",
    )
    assert outcome.status == "passed", outcome


# --- network ----------------------------------------------------------------------------


def test_network_connect_to_a_local_port_fails(box):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.2)
        port = server.getsockname()[1]
        run_attack(box, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=0.5)")
        run_attack(box, f"import socket\nsocket.create_connection(('localhost', {port}), timeout=0.5)")
        run_attack(
            box,
            f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.sendto(b'x', ('127.0.0.1', {port}))\ns.connect(('8.8.8.8', 53))",
        )
        with pytest.raises(socket.timeout):
            server.accept()


def test_unix_socket_of_the_host_is_unreachable(box, exposed):
    path = str(exposed / "daemon.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(1)
        server.settimeout(0.2)
        run_attack(box, f"import socket\nc = socket.socket(socket.AF_UNIX)\nc.connect({path!r})")
        with pytest.raises(socket.timeout):
            server.accept()


# --- secrets and escapes ----------------------------------------------------------------


def test_parent_secrets_are_not_visible(box, monkeypatch):
    monkeypatch.setenv("CEGI_SECRET", "hunter2-do-not-leak")
    assert "KeyError" in run_attack(box, "import os\nos.environ['CEGI_SECRET']").why
    scan = """
        import glob
        found = []
        for path in glob.glob('/proc/*/environ'):
            try:
                found.append(b'hunter2' in open(path, 'rb').read())
            except OSError:
                pass
    """
    outcome = run_attack(box, scan, test="assert any(found)")
    assert outcome.status == "failed"
    env = run_attack(box, "import os\nassert False, sorted(os.environ)", test="pass")
    assert env.why == (
        "in the sample: AssertionError: ['HOME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED']"
    )


def test_ctypes_and_namespace_escapes_fail(box, exposed):
    # Each tries to regain a writable view of the host, and raises when refused.
    remount = f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(None, {str(exposed)!r}.encode(), None, 32 | 4096, None) != 0:  # remount rw
            raise OSError(ctypes.get_errno(), "remount refused")
    """
    nested = f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x10000000 | 0x00020000) != 0:  # new user + mount namespace
            raise OSError(ctypes.get_errno(), "unshare refused")
        if libc.mount(None, {str(exposed)!r}.encode(), None, 32 | 4096, None) != 0:
            raise OSError(ctypes.get_errno(), "remount in a nested namespace refused")
        open({str(exposed / "victim.txt")!r}, 'w').write('pwned')
    """
    ptrace = "import ctypes\nif ctypes.CDLL(None).ptrace(16, 1, 0, 0) != 0:\n    raise OSError('ptrace refused')"
    for code in (remount, nested, ptrace, "__import__('ctypes').string_at(0)"):
        run_attack(box, code)
    assert (exposed / "victim.txt").read_bytes() == b"precious bytes\n" * 100


def test_refuses_without_namespaces_unless_opted_in(monkeypatch):
    from pytest_cegi.metrics import code_sandbox

    monkeypatch.setattr(code_sandbox, "isolation_problem", lambda python=None: "no user namespaces (test)")
    with pytest.raises(SandboxUnavailable, match="allow_unsandboxed=True"):
        CodeSandbox()
    weak = CodeSandbox(allow_unsandboxed=True, timeout_s=TIMEOUT)
    assert not weak.isolated and "UNSANDBOXED" in weak.describe()
    assert weak.run("x = 2", "assert x == 2").status == "passed"
    assert weak.run("while True:\n    pass", "pass").status == "timeout"


def test_killing_the_supervisor_kills_the_sample(isolated, tmp_path):
    """The parent's backstop kills the supervisor's process group; the sample (PID 1 of its
    namespace, in a session of its own) must die with it, taking its children along."""
    import signal
    import subprocess

    from pytest_cegi.metrics import code_sandbox

    mark = marker()
    code = (
        f"import subprocess, sys, time\nfor _ in range(3):\n"
        f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{mark}'])\ntime.sleep(60)"
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = subprocess.Popen(
        code_sandbox._argv(sys.executable, True),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
        env=code_sandbox._minimal_env(str(workdir)),
        start_new_session=True,
    )
    proc.stdin.write(
        code_sandbox._request(code, "", code_sandbox.SandboxLimits(timeout_s=30), str(workdir), sys.executable, True)
    )
    proc.stdin.close()
    try:
        deadline = time.monotonic() + 5
        while len(survivors(mark)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(survivors(mark)) == 3
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 2
    while survivors(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors(mark) == []
