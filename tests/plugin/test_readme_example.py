"""The README's "Ten lines" example is a complete test file: it runs as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def ten_lines() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Ten lines") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_ten_lines_example_runs_and_passes_its_budgets(pytester, run):
    pytester.makepyfile(test_example=ten_lines())
    result = run("--cegi-budget", "--cegi-save=run.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["qa*test_base*0.3333 exact_match*ref*", "qa*test_tuned*1 exact_match*+200%*1.5k*pass"])


def test_the_example_fails_when_its_tuned_model_regresses(pytester, run):
    """The budgets in the example bite: a tuned model no better than the base fails."""
    pytester.makepyfile(
        test_example=ten_lines().replace("dict(zip(QUESTIONS, GOLD))[question]", "base_model(question)")
    )
    result = run("--cegi-budget")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*score 0.3333 < floor 0.9 (marker)*"])
