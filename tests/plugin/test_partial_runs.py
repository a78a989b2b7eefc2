"""A session cut short (-x, --maxfail, Ctrl-C) saves what it measured, marked partial,
and `pytest-cegi update` will not promote it to the baseline."""

import json

import pytest

from pytest_cegi.cli import main

SUITE = """
import pytest

@pytest.mark.cegi(task="t")
@pytest.mark.parametrize("v", ["a", "b", "c"])
def test_variant(cegi, v):
    with cegi.measure():
        pass
    cegi.record_score(0.5)
    if v == "b":
        {failure}
"""


def _saved(pytester) -> dict:
    return json.loads((pytester.path / "run.json").read_text())


@pytest.mark.parametrize(
    "failure, args, reason, ran",
    [
        ("assert False", ["-x"], "stopping after 1 failures", 2),  # a, and b up to its failure
        ("assert False", ["--maxfail=1"], "stopping after 1 failures", 2),
        ("raise KeyboardInterrupt", [], "interrupted", 1),  # an interrupted test reports nothing
    ],
)
def test_a_session_cut_short_saves_a_partial_run(pytester, run, failure, args, reason, ran):
    pytester.makepyfile(test_suite=SUITE.format(failure=failure))
    # no_reraise_ctrlc: the in-process session's KeyboardInterrupt must not stop this one
    result = run("-p", "no:randomly", "--cegi-save=run.json", "--cegi-report=r.md", *args, no_reraise_ctrlc=True)
    saved = _saved(pytester)
    assert len(saved["records"]) == ran
    assert saved["incomplete"] == f"the session stopped early ({reason}): {ran} of 3 measured tests ran"
    assert any("partial" in w for w in saved["warnings"])
    assert "this run is partial" in result.stdout.str()
    assert "this run is partial" in (pytester.path / "r.md").read_text()


def test_update_refuses_a_partial_run_unless_forced(pytester, run, capsys):
    pytester.makepyfile(test_suite=SUITE.format(failure="assert False"))
    run("-p", "no:randomly", "--cegi-save=run.json", "-x")
    run_path, base_path = str(pytester.path / "run.json"), str(pytester.path / "base.json")
    assert main(["update", run_path, base_path]) == 2
    err = capsys.readouterr().err
    assert "run.json is a partial run" in err and "2 of 3" in err and "--force" in err
    assert not (pytester.path / "base.json").exists()
    assert main(["update", run_path, base_path, "--force"]) == 0
    assert json.loads((pytester.path / "base.json").read_text())["incomplete"]


def test_comparing_a_partial_run_says_so(pytester, run, capsys):
    pytester.makepyfile(test_suite=SUITE.format(failure="pass"))
    run("-p", "no:randomly", "--cegi-save=whole.json").assert_outcomes(passed=3)
    assert "incomplete" not in json.loads((pytester.path / "whole.json").read_text())
    pytester.makepyfile(test_suite=SUITE.format(failure="assert False"))
    run("-p", "no:randomly", "--cegi-save=run.json", "-x")
    main(["compare", str(pytester.path / "whole.json"), str(pytester.path / "run.json")])
    assert "run.json is a partial run: the session stopped early" in capsys.readouterr().err


def test_stopping_after_the_last_test_is_not_partial(pytester, run):
    pytester.makepyfile(test_suite=SUITE.format(failure="assert False").replace('v == "b"', 'v == "c"'))
    run("-p", "no:randomly", "--cegi-save=run.json", "-x").assert_outcomes(passed=2, failed=1)
    assert "incomplete" not in _saved(pytester)
