"""The plugin stays out of the way: no heavy imports, and -p no:cegi disables it."""

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
