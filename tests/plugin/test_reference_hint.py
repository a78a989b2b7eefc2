"""A task without a reference says how to mark one (issue 20)."""

import json

SUITE = """
import pytest

@pytest.mark.cegi(task="lonely", ceiling=1.0)
def test_candidate(cegi):
    cegi.trainable_params = 10
    with cegi.measure():
        pass
    cegi.record_score(0.9)
"""


def test_missing_reference_suggests_marking_one(pytester, run):
    pytester.makepyfile(test_noref=SUITE)
    result = run("--cegi-budget", "--cegi-save=run.json")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "no reference score for task 'lonely'" in text
    assert "`reference=True` on its cegi marker" in text
    assert "`Variant(..., reference=True)`" in text
    assert "`reference_score=`" in text
    (record,) = json.loads((pytester.path / "run.json").read_text())["records"]
    assert "Variant(..., reference=True)" in record["cegi_reason"]


def test_marking_the_reference_defines_the_cegi(pytester, run):
    # The hint's first suggestion, followed: the candidate's CEGI is defined.
    pytester.makepyfile(
        test_ref=SUITE.replace(
            '@pytest.mark.cegi(task="lonely", ceiling=1.0)',
            '@pytest.mark.cegi(task="lonely", reference=True)\n'
            "def test_base(cegi):\n"
            "    with cegi.measure():\n"
            "        pass\n"
            "    cegi.record_score(0.5)\n\n\n"
            '@pytest.mark.cegi(task="lonely", ceiling=1.0)',
        )
    )
    result = run("--cegi-budget")
    result.assert_outcomes(passed=2)
    assert "no reference score" not in result.stdout.str()
