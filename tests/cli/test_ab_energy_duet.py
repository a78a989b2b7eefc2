"""benchmarks/scripts/ab_energy.py --duet end to end: a git repository whose head made
one test's inference 3x costlier, both sides run at once, the duet table written."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scripts" / "ab_energy.py"

SUITE = """
import os
import pytest

# The fake meter reads each phase's energy when it measures: {cost} kWh a window here.
os.environ["CEGI_FAKE_KWH_INFERENCE"] = "{cost}"

@pytest.mark.cegi(task="qa")
@pytest.mark.parametrize("case", ["a", "b"])
def test_work(cegi, case):
    if case == "b":
        os.environ["CEGI_FAKE_KWH_INFERENCE"] = "1e-6,1.02e-6,0.98e-6"  # unchanged on both sides
    cegi.measure_call(sum, range(100))
    cegi.record_score(1.0)
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.parametrize(("gate", "code"), [(False, 0), (True, 1)])
def test_duet_flags_the_test_that_got_costlier(tmp_path, gate, code):
    if shutil.which("git") is None:
        pytest.skip("git is needed to check the base out")
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "benchmarks" / "scripts" / "ab_energy.py")
    (repo / "test_suite.py").write_text(SUITE.format(cost="1e-6,1.01e-6,0.99e-6"))
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    (repo / "test_suite.py").write_text(SUITE.format(cost="3e-6,3.03e-6,2.97e-6"))  # the head: 3x
    cmd = [sys.executable, str(repo / "benchmarks" / "scripts" / "ab_energy.py"), "--base-ref", "HEAD"]
    cmd += ["--duet", "--repeat", "3", *(["--gate"] if gate else [])]
    cmd += ["--", "test_suite.py", "--cegi-meter=fake", "-p", "no:randomly"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEGI_")}
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == code, done.stdout + done.stderr
    report = (repo / "cegi-out" / "ab" / "ab.md").read_text()
    assert "1 regression(s) in 2 tests" in report
    assert "| qa / a | 3 | 3.000 |" in report and "regression 🔴" in report
    assert ("(gating)" in report) is gate and ("Advisory:" in report) is not gate
    assert "REGRESSION  qa / a: head/base 3.000" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duet-mode", "together"], "--duet-mode applies to --duet"),
        (["--duet", "--rounds", "3"], "--rounds applies to the alternated A/B"),
        (["--gate"], "--gate applies to --duet"),
    ],
)
def test_options_that_would_do_nothing_are_refused(args, message):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--base-ref", "HEAD", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and message in done.stderr
