"""The plugin stays out of the way: no heavy imports, and -p no:cegi disables it."""

import ast
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "codecarbon", "peft", "bitsandbytes")


def test_installed_but_unused_imports_no_heavy_modules(pytester):
    pytester.makeconftest(f"""
        import sys
        HEAVY = {HEAVY!r}

        def pytest_sessionfinish(session):
            loaded = [m for m in HEAVY if m in sys.modules]
            print("HEAVY-LOADED:", loaded)
    """)
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HEAVY-LOADED: []*"])
    result.stdout.fnmatch_lines(["plugins:*cegi-*"])


def test_marker_and_options_without_measuring_import_no_tracker(pytester):
    pytester.makeconftest(f"""
        import sys

        def pytest_sessionfinish(session):
            print("HEAVY-LOADED:", [m for m in {HEAVY!r} if m in sys.modules])
    """)
    pytester.makepyfile(
        test_score="""
        import pytest

        @pytest.mark.cegi(floor=0.1)
        def test_scored_only(cegi):
            cegi.record_score(0.5)
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--cegi-budget")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HEAVY-LOADED: []*"])


def test_p_no_cegi_disables_everything(pytester):
    pytester.makepyfile(
        test_plain="""
        def test_plain(request):
            assert not request.config.pluginmanager.has_plugin("cegi")
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cegi", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "cegi:" not in result.stdout.str()
    # and its options are gone
    result = pytester.runpytest_subprocess("-p", "no:cegi", "--cegi-budget")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_options_have_their_own_help_group(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["pytest-cegi: quality and carbon budgets*", "*--cegi-budget*"])


def test_marker_is_registered(pytester):
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.cegi(task=None*"])


def test_unmarked_project_is_unaffected(pytester):
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "cegi: quality and carbon" not in result.stdout.str()


# What importing the plugin may import: pytest loads it in every session of every project
# it is installed in, used or not (issue 20). The rest waits for the hooks that need it.
PLUGIN_IMPORTS = {
    "pytest_cegi",
    "pytest_cegi.core",
    "pytest_cegi.core.meter_traits",  # the --cegi-meter choices (a table of names, no imports)
    "pytest_cegi.core.options",
    "pytest_cegi.measure",
    "pytest_cegi.measure.xdist",
    "pytest_cegi.plugin",
    "pytest_cegi.startup",  # the session's start: imports only the options
}


def test_importing_the_plugin_imports_only_the_options():
    code = (
        "import sys, pytest; "
        "import pytest_cegi.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pytest_cegi'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(done.stdout.strip()))
    assert loaded == PLUGIN_IMPORTS, f"imported eagerly: {sorted(loaded - PLUGIN_IMPORTS)}"


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "with-header"])
def test_unused_session_imports_no_lifecycle_settings_or_reports(pytester, quiet):
    pytester.makeconftest("""
        import sys

        def pytest_sessionfinish(session):
            print("\\nCEGI-LOADED:", sorted(m for m in sys.modules if m.startswith("pytest_cegi.")))
    """)
    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_plain(n):
            pass
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", *(["-q"] if quiet else []))
    result.assert_outcomes(passed=2)
    line = next(line for line in result.stdout.lines if line.startswith("CEGI-LOADED:"))
    loaded = set(ast.literal_eval(line.removeprefix("CEGI-LOADED:").strip()))
    never = ("pytest_cegi.lifecycle", "pytest_cegi.report", "pytest_cegi.judge", "pytest_cegi.core.record")
    assert not [m for m in loaded if m.startswith(never)]
    if quiet:  # no header to write: the settings are never read
        assert "pytest_cegi.core.settings" not in loaded and "pytest_cegi.measure.session" not in loaded
    else:
        result.stdout.fnmatch_lines(["cegi: meter codecarbon, carbon factor default*"])
