"""A meter's traits live on the meter (core/meter_traits.py), never in name comparisons."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_cegi
from pytest_cegi.core.meter_traits import METER_TRAITS, traits_of
from pytest_cegi.core.options import METERS
from pytest_cegi.core.settings import Settings
from pytest_cegi.measure.meters import build_meter
from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter
from pytest_cegi.measure.meters.fake import FakeMeter
from pytest_cegi.measure.meters.flops import FlopsMeter
from pytest_cegi.measure.meters.serial import SerializedMeter

PACKAGE_ROOT = Path(pytest_cegi.__file__).parent


def test_every_meter_class_declares_its_traits_from_the_table() -> None:
    for cls in (CodecarbonMeter, FakeMeter, FlopsMeter):
        assert cls.traits is METER_TRAITS[cls.name]
    assert tuple(METER_TRAITS) == METERS
    assert [name for name, t in METER_TRAITS.items() if t.deterministic] == ["flops"]
    assert [name for name, t in METER_TRAITS.items() if t.counts_work] == ["flops"]
    assert traits_of("a meter from elsewhere").deterministic is False
    assert traits_of(None).counts_work is False


def test_built_and_wrapped_meters_carry_the_traits(tmp_path) -> None:
    meter = build_meter(Settings(meter="fake"))
    assert meter.traits is METER_TRAITS["fake"] and meter.cache_identity() == "fake"
    wrapped = SerializedMeter(meter, str(tmp_path / "lock"))
    assert wrapped.traits is meter.traits and wrapped.cache_identity() == "fake"


def _meter_name_comparisons(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                for value in values:
                    if isinstance(value, ast.Constant) and value.value in METER_TRAITS:
                        found.append(f"{path.relative_to(PACKAGE_ROOT)}:{node.lineno}")
    return found


def test_no_meter_name_is_compared_outside_the_meters() -> None:
    meters = PACKAGE_ROOT / "measure" / "meters"
    found = [
        hit
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        if meters not in path.parents
        for hit in _meter_name_comparisons(path)
    ]
    assert found == []
