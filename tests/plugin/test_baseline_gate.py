"""The baseline gate end to end: save a run, change something, compare."""

import json

import pytest

SUITE = """
import pytest

SCORES = {"base": 0.5, "tuned": %s}

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    cegi.measure_call(lambda: None, requests=4)
    cegi.record_score(SCORES["base"])

@pytest.mark.cegi(task="qa")
@pytest.mark.parametrize("variant", [%s])
def test_variant(cegi, variant):
    cegi.trainable_params = 1000
    cegi.measure_call(lambda: None, requests=4)
    cegi.record_score(SCORES[variant])
"""


def _suite(tuned=0.7, variants='"tuned"'):
    return SUITE % (tuned, variants)


@pytest.fixture
def saved(pytester, run):
    pytester.makepyfile(test_suite=_suite())
    result = run("--cegi-repeat=5", "--cegi-save=baseline.json")
    result.assert_outcomes(passed=2)
    return pytester.path / "baseline.json"


def test_unchanged_rerun_passes(pytester, run, saved):
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json", "--cegi-report=r.md")
    result.assert_outcomes(passed=2)
    report = (pytester.path / "r.md").read_text()
    assert "0 regressions" in report or "no regressions" in report.lower()


def test_score_drop_fails_the_test(pytester, run, saved):
    pytester.makepyfile(test_suite=_suite(tuned=0.6))
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_suite.py::test_variant[[]tuned[]] - *score*"])


def test_emissions_increase_with_repeats_is_flagged(pytester, run, saved, monkeypatch):
    monkeypatch.setenv("CEGI_FAKE_KWH", "1.5e-6,1.6e-6,1.55e-6")
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*emissions*"])


def test_noisy_samples_within_tolerance_are_not_flagged(pytester, run, saved, monkeypatch):
    # mean +5 %, spread +-20 %: under the 10 % tolerance and not significant
    monkeypatch.setenv("CEGI_FAKE_KWH", "0.85e-6,1.25e-6,1.05e-6")
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json")
    result.assert_outcomes(passed=2)


def test_a_disturbed_run_whose_lowest_repeat_matches_is_not_flagged(pytester, run, saved, monkeypatch):
    # Four repeats of five +60 % (a busy neighbour), one as fast as the baseline: the
    # median moved +60 %, the lowest repeat did not, so the work itself did not change.
    monkeypatch.setenv("CEGI_FAKE_KWH", "1.6e-6,1.6e-6,1.0e-6,1.6e-6,1.6e-6")
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json", "--cegi-report=r.md")
    result.assert_outcomes(passed=2)
    report = (pytester.path / "r.md").read_text()
    assert "0 regressions" in report and "(+48.0%; lowest ±0, within 10%)" in report


def test_removed_variant_is_reported_not_an_error(pytester, run, saved):
    pytester.makepyfile(test_suite=_suite(variants=""))
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json", "--cegi-report=r.md")
    result.assert_outcomes(passed=1, skipped=1)
    assert "removed" in (pytester.path / "r.md").read_text().lower()


def test_hardware_mismatch_refuses_energy_comparison(pytester, run, saved):
    run_file = json.loads(saved.read_text())
    run_file["machine"]["cpu"] = "Some Other CPU 9000"
    saved.write_text(json.dumps(run_file))
    # 3x the energy: would regress, but energy is not comparable across hardware
    import os

    os.environ["CEGI_FAKE_KWH"] = "3e-6"
    try:
        result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json", "--cegi-report=r.md")
    finally:
        del os.environ["CEGI_FAKE_KWH"]
    result.assert_outcomes(passed=2)
    assert "Some Other CPU 9000" in (pytester.path / "r.md").read_text()


def test_same_cpu_name_with_another_identity_refuses_energy_comparison(pytester, run, saved, monkeypatch):
    # What a cloud guest on a newer host generation looks like: the same "AMD EPYC"
    # model name, another family/model. Energy would regress 3x, but is not compared.
    run_file = json.loads(saved.read_text())
    assert run_file["machine"]["cpu_id"]  # the plugin saves it
    run_file["machine"]["cpu_id"] = "AuthenticAMD family 25 model 17 stepping 1; 1024 KB cache; avx2 avx512f"
    saved.write_text(json.dumps(run_file))
    monkeypatch.setenv("CEGI_FAKE_KWH", "3e-6")
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json", "--cegi-report=r.md")
    result.assert_outcomes(passed=2)
    report = (pytester.path / "r.md").read_text()
    assert "hardware differs" in report and "model 17" in report
    assert "Not compared: emissions, energy, cegi" in report


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"schema": "pytest-cegi/run", "schema_ver', "not valid JSON"),
        ("", "empty"),
        ('{"schema": "pytest-cegi/run", "schema_version": 0, "records": []}', "schema_version 0"),
    ],
)
def test_broken_baseline_is_a_usage_error(pytester, run, content, expected):
    pytester.makepyfile(test_suite=_suite())
    (pytester.path / "baseline.json").write_text(content)
    result = run("--cegi-baseline=baseline.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "baseline.json" in err and expected in err, err
    assert "INTERNALERROR" not in result.stdout.str() + err


def test_report_and_plot_are_written(pytester, run, saved):
    pytest.importorskip("matplotlib")
    result = run(
        "--cegi-repeat=5", "--cegi-report=out/r.md", "--cegi-plot=out/pareto.png", "--cegi-baseline=baseline.json"
    )
    result.assert_outcomes(passed=2)
    assert (pytester.path / "out" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (pytester.path / "out" / "pareto.svg").read_text().lstrip().startswith("<?xml")
    report = (pytester.path / "out" / "r.md").read_text()
    assert "tuned" in report and "qa" in report


BROKEN = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    cegi.measure_call(lambda: None, requests=4)
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa")
@pytest.mark.parametrize("variant", ["tuned"])
def test_variant(cegi, variant):
    cegi.trainable_params = 1000
    cegi.measure_call(lambda: None, requests=4)
    raise RuntimeError("the fine-tune needs scipy.\\nYou can install it with pip: pip install scipy")
"""


def test_a_head_test_that_raised_fails_the_gate_and_compare(pytester, run, saved):
    pytester.makepyfile(test_suite=BROKEN)
    result = run("--cegi-repeat=5", "--cegi-budget", "--cegi-baseline=baseline.json", "--cegi-save=head.json")
    result.assert_outcomes(passed=1, failed=1)
    # one section lists why the run is red, the baseline's lost score included, and the
    # error message is whole (its fix is on its second line)
    result.stdout.fnmatch_lines(
        [
            "*cegi budget violations*",
            "test_suite.py::test_variant[[]tuned[]] [[]error[]]: the test raised RuntimeError: the fine-tune "
            "needs scipy. You can install it with pip: pip install scipy*",
            "test_suite.py::test_variant[[]tuned[]] [[]error[]]: score lost: baseline 0.7, none in this run*",
        ]
    )
    result.stdout.fnmatch_lines(["cegi: compared with baseline baseline.json*1 error*"])
    from pytest_cegi.cli import main

    assert main(["compare", "baseline.json", "head.json"]) == 1
    assert main(["compare", "baseline.json", "head.json", "--fail-on", "none"]) == 0


# -- issue 22: each phase judged on its own windows; a single sample still gated ---------

ONCE_SUITE = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure(requests=4):
        pass
    cegi.record_score(0.5)

@pytest.mark.cegi(task="qa")
def test_tuned(cegi):
    cegi.trainable_params = 1000
    with cegi.measure(requests=4):
        pass
    cegi.record_score(0.7)
"""


@pytest.mark.parametrize(("factor", "outcome"), [(3.0, "failed"), (1.2, "passed")])
def test_a_block_measured_once_is_gated_against_gross_changes(pytester, run, monkeypatch, factor, outcome):
    pytester.makepyfile(test_suite=ONCE_SUITE)
    run("--cegi-save=baseline.json").assert_outcomes(passed=2)
    monkeypatch.setenv("CEGI_FAKE_KWH", str(factor * 1e-6))  # one sample a side
    result = run("--cegi-budget", "--cegi-baseline=baseline.json", "--cegi-report=r.md")
    result.assert_outcomes(**{outcome: 2})
    report = (pytester.path / "r.md").read_text()
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*energy*exceeds 100% (single-sample tolerance, default)*"])
        assert "| single sample |" in report
    else:
        assert "(+20.0%, within 100% (single sample))" in report and "0 regressions" in report
    # the terminal says once what such windows can and cannot catch
    result.stdout.fnmatch_lines(["measured once: inference in 2 tests. *only gross changes*"])


def test_the_single_sample_tolerance_is_configurable(pytester, run, monkeypatch):
    pytester.makepyfile(test_suite=ONCE_SUITE)
    pytester.makepyprojecttoml('[tool.cegi]\nmax_regression = { single_sample = "250%" }\n')
    run("--cegi-save=baseline.json").assert_outcomes(passed=2)
    monkeypatch.setenv("CEGI_FAKE_KWH", "3e-6")
    result = run("--cegi-budget", "--cegi-baseline=baseline.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*beyond the single-sample tolerance, 3.5x either way*"])


def test_the_single_sample_rule_cannot_be_lifted(pytester, run):
    pytester.makepyfile(test_suite=ONCE_SUITE)
    pytester.makepyprojecttoml(
        '[tool.cegi]\n[[tool.cegi.budget]]\nmatch = "*"\nmax_regression = { single_sample = false }\n'
    )
    result = run("--cegi-budget")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*max_regression.single_sample*cannot be lifted*"])


LORA_SUITE = """
import pytest

@pytest.mark.cegi(task="qa")
def test_lora(cegi):
    cegi.trainable_params = 1000
    with cegi.measure("finetune"):
        pass
    cegi.measure_call(lambda: None, requests=4)
    cegi.record_score(0.7)
"""


def test_repeated_inference_regression_beside_a_once_measured_fine_tune(pytester, run, monkeypatch):
    """Issue 22's LoRA case: the inference window got 6x costlier, the fine-tune did not.
    Flagged run against run, and still flagged once each side pools two sessions (where
    the fine-tune window has 2 samples, which used to leave the whole record ungated)."""
    from pytest_cegi.cli import main

    pytester.makepyfile(test_suite=LORA_SUITE)
    monkeypatch.setenv("CEGI_FAKE_KWH_FINETUNE", "5e-5")
    monkeypatch.setenv("CEGI_FAKE_KWH_INFERENCE", "1e-6,1.02e-6,0.98e-6")
    for i in (1, 2):
        run("--cegi-repeat=3", f"--cegi-save=base{i}.json").assert_outcomes(passed=1)
    monkeypatch.setenv("CEGI_FAKE_KWH_INFERENCE", "6e-6,6.1e-6,5.9e-6")
    result = run("--cegi-repeat=3", "--cegi-budget", "--cegi-baseline=base1.json", "--cegi-save=head1.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*energy*inference: energy (lowest of 3 vs 3 repeats)*exceeds tolerance 10%*"])
    run("--cegi-repeat=3", "--cegi-save=head2.json").assert_outcomes(passed=1)
    monkeypatch.chdir(pytester.path)
    assert main(["pool", "base1.json", "base2.json", "-o", "base.json"]) == 0
    assert main(["pool", "head1.json", "head2.json", "-o", "head.json"]) == 0
    assert main(["compare", "base1.json", "head1.json", "--format", "md", "-o", "run.md"]) == 1
    assert main(["compare", "base.json", "head.json", "--format", "md", "-o", "pooled.md"]) == 1
    pooled = (pytester.path / "pooled.md").read_text()
    assert "inference lowest +502.0% 🔴" in pooled  # the phase judged, beside the +9.8 % total
    assert "1 regression" in pooled
