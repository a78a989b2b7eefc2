"""Bad input is a usage error that names the file, entry and key; never INTERNALERROR."""

import pytest

SIMPLE = """
import pytest

@pytest.mark.cegi(task="t")
def test_one(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.5)
"""


def _usage_error(result, *patterns):
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    for p in patterns:
        assert p in out, f"{p!r} not in output:\n{out}"


@pytest.mark.parametrize(
    "toml, expected",
    [
        # pytest itself reads pyproject.toml first and reports malformed TOML as a usage error
        ("[tool.cegi\ncountry = 'USA'", ["pyproject.toml: Expected ']'"]),
        ("[tool.cegi]\ncolour = 'green'", ["pyproject.toml: [tool.cegi] key 'colour': unknown key"]),
        ("[tool.cegi]\ncountry = 'Narnia'", ["pyproject.toml [tool.cegi]: key 'country'", "3-letter"]),
        ("[tool.cegi]\ncarbon_intensity = -3", ["key 'carbon_intensity'", "must be positive"]),
        ("[tool.cegi]\nrepeat = 0", ["key 'repeat'"]),
        ("[tool.cegi]\nmax_regression = { emissions = 'lots' }", ["key 'max_regression.emissions'", "'lots'"]),
        ("[tool.cegi]\nmax_regression = { speed = '10%' }", ["key 'max_regression.speed': unknown key"]),
        ("[[tool.cegi.budget]]\nmatch = '*'\nfloor = 'high'", ["pyproject.toml budget #1: key 'floor'", "'high'"]),
        ("[[tool.cegi.budget]]\nmatch = '*'\nceiling = [1]", ["pyproject.toml budget #1: key 'ceiling'"]),
        (
            "[[tool.cegi.budget]]\nmatch = '*'\nmax_emissions = '2 lb'",
            ["budget #1: key 'max_emissions'", "unknown mass unit 'lb'"],
        ),
        (
            "[[tool.cegi.budget]]\nmatch = '*'\nmax_energy = '-5 Wh'",
            ["budget #1: key 'max_energy'", "must not be negative"],
        ),
        (
            "[[tool.cegi.budget]]\nmatch = '*'\nmax_emissions = -1",
            ["budget #1: key 'max_emissions'", "must not be negative"],
        ),
        (
            "[[tool.cegi.budget]]\nmatch = '*'\nfloor = 0.1\n[[tool.cegi.budget]]\nmatch = '*'\nflor = 0.2",
            ["pyproject.toml budget #2: key 'flor': unknown key"],
        ),
        ("[[tool.cegi.budget]]\nfloor = 0.2", ["budget #1: needs 'match'"]),
        ("[[tool.cegi.budget]]\nmatch = '*'\ngain = 'ratio'", ["budget #1: key 'gain'", "relative, points"]),
        (
            "[tool.cegi]\ndeployment = { units = 3 }",
            ["key 'deployment'", "exactly one of requests_per_second or requests_per_day"],
        ),
        (
            "[tool.cegi]\ndeployment = { requests_per_day = 0 }",
            ["key 'deployment'", "requests_per_day must be a positive number"],
        ),
    ],
)
def test_bad_pyproject(pytester, run, toml, expected):
    pytester.makepyfile(test_x=SIMPLE)
    pytester.makefile(".toml", pyproject=toml)
    _usage_error(run(), *expected)


def test_bad_budget_file_names_the_file(pytester, run):
    pytester.makepyfile(test_x=SIMPLE)
    pytester.makefile(".toml", budget="[[tool.cegi.budget]]\nmatch = '*'\nmax_emissions = 'two grams'")
    _usage_error(run("--cegi-budget=budget.toml"), "budget.toml budget #1: key 'max_emissions'", "'two grams'")


def test_malformed_budget_file(pytester, run):
    pytester.makepyfile(test_x=SIMPLE)
    pytester.makefile(".toml", budget="[[tool.cegi.budget]\nmatch = '*'")
    _usage_error(run("--cegi-budget=budget.toml"), "budget.toml: malformed TOML")


def test_missing_budget_file(pytester, run):
    pytester.makepyfile(test_x=SIMPLE)
    _usage_error(run("--cegi-budget=nope.toml"), "nope.toml: file not found")


def test_budget_flag_swallowing_a_path_is_explained(pytester, run):
    pytester.makepyfile(test_x=SIMPLE)
    _usage_error(run("--cegi-budget", "test_x.py"), "is not one", "--cegi-budget=FILE.toml")


@pytest.mark.parametrize(
    "marker, expected",
    [
        ("flor=0.5", "unknown keyword 'flor'"),
        ("floor='high'", "key 'floor'"),
        ("ceiling='tiny'", "key 'ceiling'"),
        ("max_emissions='-2 g'", "must not be negative"),
        ("max_energy='5 W'", "unknown energy unit 'W'"),
        ("reference='yes'", "reference must be True or False"),
        ("gain='log'", "key 'gain'"),
    ],
)
def test_bad_marker(pytester, run, marker, expected):
    pytester.makepyfile(
        test_m=f"""
        import pytest

        @pytest.mark.cegi({marker})
        def test_one(cegi):
            pass
    """
    )
    _usage_error(run(), "test_m.py::test_one: @pytest.mark.cegi", expected)


def test_marker_positional_args(pytester, run):
    pytester.makepyfile(
        test_m="""
        import pytest

        @pytest.mark.cegi(0.5)
        def test_one(cegi):
            pass
    """
    )
    _usage_error(run(), "keyword arguments only")


def test_two_references_in_one_task(pytester, run):
    pytester.makepyfile(
        test_m="""
        import pytest

        @pytest.mark.cegi(task="t", reference=True)
        def test_a(cegi):
            pass

        @pytest.mark.cegi(task="t", reference=True)
        def test_b(cegi):
            pass
    """
    )
    _usage_error(run(), "task 't' has 2 tests marked as reference", "test_m.py::test_a", "test_m.py::test_b")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("float('nan')", "non-finite score nan"),
        ("float('inf')", "non-finite score inf"),
        ("'high'", "needs a number, got str 'high'"),
    ],
)
def test_record_score_rejects_non_numbers_as_that_tests_error(pytester, run, value, expected):
    pytester.makepyfile(
        test_s=f"""
        def test_nan(cegi):
            cegi.record_score({value})

        def test_fine(cegi):
            cegi.record_score(0.5)
    """
    )
    result = run()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([f"*CegiUsageError: cegi.record_score*{expected}*"])
    assert "pytest_cegi/measure/fixture.py" not in result.stdout.str(), "plugin internals in the traceback"


def test_bad_trainable_params(pytester, run):
    pytester.makepyfile(
        test_s="""
        def test_neg(cegi):
            cegi.trainable_params = -5
    """
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cegi.trainable_params must be a whole number >= 0, got -5*"])
