"""Variant parameters: readable ids, and the task's reference found without a marker."""

import pytest


def test_variant_ids_and_implicit_reference(pytester, run):
    pytester.makepyfile(
        test_v="""
        import pytest
        from pytest_cegi import Variant

        ORDER = []
        VARIANTS = [
            Variant("lora-r8", model="m", lora={"r": 8, "target_modules": ["q_proj"]}),
            Variant("nf4", model="m", quantization="nf4"),
            Variant("base", model="m"),
        ]

        @pytest.mark.cegi(task="t")
        @pytest.mark.parametrize("variant", VARIANTS)
        def test_task(cegi, variant):
            ORDER.append(variant.name)
            assert cegi.variant == variant.name
            assert cegi.reference == (variant.name == "base")
            cegi.record_score(0.5)

        def test_zz_order():
            assert ORDER[0] == "base"
    """
    )
    result = run("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_task[[]base[]] PASSED*", "*test_task[[]lora-r8[]] PASSED*"])


def test_two_base_variants_in_one_task_is_a_usage_error(pytester, run):
    pytester.makepyfile(
        test_v="""
        import pytest
        from pytest_cegi import Variant

        @pytest.mark.parametrize("variant", [Variant("small", model="a"), Variant("large", model="b")])
        def test_task(cegi, variant):
            pass
    """
    )
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "task 'test_task' has 2 candidate reference variants" in result.stderr.str()


def test_explicit_variant_reference_wins(pytester, run):
    pytester.makepyfile(
        test_v="""
        import pytest
        from pytest_cegi import Variant

        @pytest.mark.parametrize("variant", [Variant("small", model="a", reference=True),
                                             Variant("large", model="b")])
        def test_task(cegi, variant):
            assert cegi.reference == (variant.name == "small")
    """
    )
    run().assert_outcomes(passed=2)
