import pytest

from pytest_cegi.units import (QuantityError, format_energy, format_mass, parse_energy_kwh,
                               parse_mass_kg, parse_tolerance)


@pytest.mark.parametrize("text, kg", [
    (0.3, 0.3), (2, 2.0), ("150 mg", 150e-6), ("2 g", 2e-3), ("2g", 2e-3), ("0.3 kg", 0.3),
    ("1.5e-3 kg", 1.5e-3), ("1 t", 1000.0),
])
def test_mass(text, kg):
    assert parse_mass_kg(text) == pytest.approx(kg)


@pytest.mark.parametrize("text, kwh", [
    (0.2, 0.2), ("5 Wh", 5e-3), ("0.2 kWh", 0.2), ("300 J", 300 / 3.6e6), ("3.6 kJ", 1e-3),
    ("1 MWh", 1e3), ("3.6 MJ", 1.0), ("5 wh", 5e-3), ("2 kwh", 2.0),
])
def test_energy(text, kwh):
    assert parse_energy_kwh(text) == pytest.approx(kwh)


@pytest.mark.parametrize("bad", ["two grams", "2 lb", "", "-1 g", True, [1], "nan g", None])
def test_bad_mass(bad):
    with pytest.raises(QuantityError):
        parse_mass_kg(bad)


@pytest.mark.parametrize("bad", ["5 W", "-3 J", "inf", {"a": 1}, "3 mJ", "1 mwh"])
def test_bad_energy(bad):
    with pytest.raises(QuantityError):
        parse_energy_kwh(bad)


def test_tolerances():
    rel = parse_tolerance("10%")
    assert rel.relative and rel.allowed_increase(2.0) == pytest.approx(0.2)
    absolute = parse_tolerance(0.01)
    assert not absolute.relative and absolute.allowed_increase(100.0) == pytest.approx(0.01)
    with pytest.raises(QuantityError):
        parse_tolerance("10 g")


def test_formatting():
    assert format_mass(2e-3) == "2 g"
    assert format_mass(1.5e-7) == "150 µg"
    assert format_energy(1e-3) == "1 Wh"
    assert format_energy(1e-6) == "3.6 J"
    assert format_energy(2.0) == "2 kWh"
    assert format_mass(None) == "-"
