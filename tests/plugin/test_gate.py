"""The gate: exit codes, failure messages and the terminal table, in real pytest sessions."""

import pytest
from cegi_suites import TASK_SUITE


def test_without_budget_violations_warn_and_tests_pass(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE)
    result = run()
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*cegi budget warnings*",
            "test_suite.py::test_candidate[[]bad[]] [[]warn[]]: score 0.3 < floor 0.4 (marker)",
        ]
    )
    # no line of ours mimics pytest's short-summary prefixes (scripts count those)
    assert not [line for line in result.outlines if line.startswith(("WARN ", "FAILED ", "ERROR "))]


def test_with_budget_the_violating_test_fails_with_its_reason(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE)
    result = run("--cegi-budget")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "FAILED test_suite.py::test_candidate[[]bad[]] - score 0.3 < floor 0.4 (marker)",
        ]
    )
    # the good candidate and the reference pass
    reports = {r.nodeid: r.outcome for r in result.reprec.getreports("pytest_runtest_logreport") if r.when == "call"}
    assert reports["test_suite.py::test_candidate[good]"] == "passed"
    assert reports["test_suite.py::test_base"] == "passed"


def test_terminal_table_lists_every_measured_test(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE)
    result = run()
    result.stdout.fnmatch_lines(
        [
            "*cegi: quality and carbon*",
            "task*variant*score*gain*T_M*energy*CO2e*CEGI*CO2e/gain*limits*verdict",
            "qa*test_base*0.5 accuracy*ref*~3.6 J*~475 µg*n/a (reference)*pass",
            # the reference first, then variants in natural order; each with its limits
            "qa*bad*0.3 accuracy*-40%*1k*undef*floor 0.4, ceiling 0.001*warn",
            # CEGI = 4.75e-7 kg / (20 % x 0.001 M) = 2.375e-5; E / dP = 23.75 µg per %
            "qa*good*0.6 accuracy*+20%*1k*~3.6 J*~475 µg*2.38e-05*23.8 µg/%*floor 0.4, ceiling 0.001*pass",
            "~ modelled estimate*",
            "measured by: modelled with fake*",
        ]
    )


def test_ceiling_violation_names_value_limit_and_source(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE.replace("ceiling=1e-3", "ceiling=1e-6"))
    result = run("--cegi-budget")
    result.stdout.fnmatch_lines(["*CEGI 2.38e-05 > ceiling 1.00e-06 (marker)*"])
    result.assert_outcomes(passed=1, failed=2)


def test_undefined_cegi_under_a_ceiling_fails(pytester, run):
    pytester.makepyfile(test_suite=TASK_SUITE.replace("floor=0.40, ", ""))
    result = run("--cegi-budget")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*CEGI undefined: no gain over reference (-40%)*(ceiling 0.001, marker)*"])


def test_reference_runs_first_even_when_defined_last(pytester, run):
    pytester.makepyfile(
        test_order="""
        import pytest
        ORDER = []

        @pytest.mark.cegi(task="t", ceiling=1.0)
        def test_candidate(cegi):
            ORDER.append("candidate")
            cegi.trainable_params = 10
            with cegi.measure():
                pass
            cegi.record_score(0.9)

        @pytest.mark.cegi(task="t", reference=True)
        def test_reference(cegi):
            ORDER.append("reference")
            cegi.record_score(0.5)

        def test_zz_order():
            assert ORDER == ["reference", "candidate"]
    """
    )
    result = run("--cegi-budget")
    result.assert_outcomes(passed=3)


def test_missing_reference_makes_ceiling_fail_with_reason(pytester, run):
    pytester.makepyfile(
        test_noref="""
        import pytest

        @pytest.mark.cegi(task="lonely", ceiling=1.0)
        def test_candidate(cegi):
            cegi.trainable_params = 10
            with cegi.measure():
                pass
            cegi.record_score(0.9)
    """
    )
    result = run("--cegi-budget")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no reference score for task 'lonely'*"])


def test_explicit_reference_score_replaces_the_reference_test(pytester, run):
    pytester.makepyfile(
        test_refscore="""
        import pytest

        @pytest.mark.cegi(task="t", reference_score=0.5, ceiling=1.0, gain="points")
        def test_candidate(cegi):
            cegi.trainable_params = 1_000_000
            with cegi.measure():
                pass
            cegi.record_score(0.6)
    """
    )
    result = run("--cegi-budget", "--cegi-save=run.json")
    result.assert_outcomes(passed=1)
    import json

    rec = json.loads((pytester.path / "run.json").read_text())["records"][0]
    assert rec["gain_pct"] == pytest.approx(10.0)
    assert rec["cegi"] == pytest.approx(4.75e-7 / (10.0 * 1.0))


def test_emission_and_energy_limits(pytester, run):
    pytester.makepyfile(
        test_limits="""
        import pytest

        @pytest.mark.cegi(max_emissions="1 mg", max_energy="8 J")
        def test_two_windows_fit(cegi):
            for _ in range(2):
                with cegi.measure():
                    pass

        @pytest.mark.cegi(max_energy="8 J")
        def test_three_windows_do_not(cegi):
            for _ in range(3):
                with cegi.measure():
                    pass
    """
    )
    result = run("--cegi-budget")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*energy 10.8 J > max_energy 8 J (marker)*"])


def test_phases_limit_counts_only_named_phases(pytester, run):
    pytester.makepyfile(
        test_phases="""
        import pytest

        @pytest.mark.cegi(max_energy="5 J", phases=["finetune"])
        def test_only_finetune_counts(cegi):
            with cegi.measure("finetune"):
                pass
            for _ in range(3):
                with cegi.measure("inference"):
                    pass
    """
    )
    run("--cegi-budget").assert_outcomes(passed=1)


def test_invalid_window_fails_under_budget_and_warns_without(pytester, run, monkeypatch):
    monkeypatch.setenv("CEGI_FAKE_KWH", "0")
    pytester.makepyfile(
        test_zero="""
        def test_nothing_measured(cegi):
            with cegi.measure():
                pass
            cegi.record_score(1.0)
    """
    )
    result = run("--cegi-budget")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*inference window measured no energy (0 kWh)*"])
    result = run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*invalid*", "test_zero.py::test_nothing_measured [[]invalid[]]*"])


def test_invalid_can_be_configured_to_warn(pytester, run, monkeypatch):
    monkeypatch.setenv("CEGI_FAKE_KWH", "0")
    pytester.makepyfile(
        test_zero="""
        def test_nothing_measured(cegi):
            with cegi.measure():
                pass
    """
    )
    pytester.makefile(".toml", pyproject='[tool.cegi]\ninvalid = "warn"\n')
    run("--cegi-budget").assert_outcomes(passed=1)


def test_a_failing_test_still_gets_its_record(pytester, run):
    pytester.makepyfile(
        test_fail="""
        def test_broken(cegi):
            with cegi.measure():
                pass
            assert False
    """
    )
    result = run("--cegi-save=r.json")
    result.assert_outcomes(failed=1)
    import json

    rec = json.loads((pytester.path / "r.json").read_text())["records"][0]
    assert rec["outcome"] == "failed" and rec["energy_kwh"] == pytest.approx(1e-6)


def test_carbon_intensity_option_sets_factor(pytester, run):
    pytester.makepyfile(
        test_one="""
        def test_one(cegi):
            with cegi.measure():
                pass
    """
    )
    result = run("--cegi-carbon-intensity=100", "--cegi-save=r.json")
    import json

    rec = json.loads((pytester.path / "r.json").read_text())["records"][0]
    assert rec["emissions_kg"] == pytest.approx(1e-6 * 100 / 1000)
    assert rec["method"]["carbon_factor_source"] == "--cegi-carbon-intensity (100 g/kWh)"
    result.stdout.fnmatch_lines(["cegi: meter fake, carbon factor --cegi-carbon-intensity (100 g/kWh)*"])


def test_requests_are_counted_and_repeats_sampled(pytester, run):
    pytester.makepyfile(
        test_req="""
        def test_served(cegi):
            def serve(prompts):
                cegi.count_requests(len(prompts))   # what prepared variants' generate() does
                return [p.upper() for p in prompts]
            out = cegi.measure_call(serve, ["a", "b", "c"])
            assert out == ["A", "B", "C"]
            with cegi.measure(requests=2):
                pass
    """
    )
    result = run("--cegi-repeat=3", "--cegi-save=r.json")
    result.assert_outcomes(passed=1)
    import json

    rec = json.loads((pytester.path / "r.json").read_text())["records"][0]
    first, second = rec["windows"]
    assert first["requests"] == 3 and len(first["samples"]) == 3
    assert second["requests"] == 2 and second["samples"] == []
    assert rec["requests"] == 5


def test_budget_match_treats_brackets_literally(pytester, run):
    pytester.makepyfile(test_sql=TASK_SUITE)
    pytester.makefile(
        ".toml",
        pyproject="""
[[tool.cegi.budget]]
match = "test_sql.py::test_candidate[*]"
floor = 0.65

[[tool.cegi.budget]]
match = "test_sql.py::test_candidate[b?d]"
floor = 0.1
""",
    )
    result = run("--cegi-budget")
    # good (0.6) misses the first entry's floor; bad (0.3) is rescued by the second entry
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["score 0.6 < floor 0.65 (pyproject.toml budget #1)"])
