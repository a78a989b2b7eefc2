import pytest

from pytest_cegi.core.units import (
    QuantityError,
    format_energy,
    format_mass,
    parse_energy_kwh,
    parse_mass_kg,
    parse_tolerance,
)


@pytest.mark.parametrize(
    "text, kg",
    [
        (0.3, 0.3),
        (2, 2.0),
        ("150 mg", 150e-6),
        ("2 g", 2e-3),
        ("2g", 2e-3),
        ("0.3 kg", 0.3),
        ("1.5e-3 kg", 1.5e-3),
        ("1 t", 1000.0),
        # the micro sign (U+00B5), Greek mu (U+03BC) and the ASCII u: every table prints µg
        ("10 \u00b5g", 1e-8),
        ("10 \u03bcg", 1e-8),
        ("10 ug", 1e-8),
        ("10µg", 1e-8),
        ("3 ng", 3e-12),
    ],
)
def test_mass(text, kg):
    assert parse_mass_kg(text) == pytest.approx(kg)


@pytest.mark.parametrize(
    "text, kwh",
    [
        (0.2, 0.2),
        ("5 Wh", 5e-3),
        ("0.2 kWh", 0.2),
        ("300 J", 300 / 3.6e6),
        ("3.6 kJ", 1e-3),
        ("1 MWh", 1e3),
        ("3.6 MJ", 1.0),
        ("5 wh", 5e-3),
        ("2 kwh", 2.0),
        ("3.6 mJ", 1e-9),
        ("5 mWh", 5e-6),
        ("1.23e-05 J", 1.23e-05 / 3.6e6),
    ],
)
def test_energy(text, kwh):
    assert parse_energy_kwh(text) == pytest.approx(kwh)


@pytest.mark.parametrize("bad", ["two grams", "2 lb", "", "-1 g", True, [1], "nan g", None])
def test_bad_mass(bad):
    with pytest.raises(QuantityError):
        parse_mass_kg(bad)


@pytest.mark.parametrize("bad", ["5 W", "-3 J", "inf", {"a": 1}, "3 mj", "1 mwh", "2 uWh"])
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


def test_unknown_mass_unit_lists_what_is_accepted():
    with pytest.raises(QuantityError, match="use one of ng, µg, mg, g, kg, t"):
        parse_mass_kg("2 lb")


# Every magnitude the reports can meet, tiny to huge, both signs of zero excluded.
MAGNITUDES = [0.0] + [m * 10.0**e for e in range(-16, 5) for m in (1.0, 2.5, 9.99)]


@pytest.mark.parametrize("kg", MAGNITUDES)
def test_every_printed_mass_parses_back(kg):
    """The terminal, Markdown, chart and plot print masses through these; a user who
    copies one into a budget must get the same quantity back (to the 3 digits shown)."""
    from pytest_cegi.report.md_table import tonnes as _tonnes

    texts = [format_mass(kg)] + ([_tonnes(kg)] if kg else [])
    for text in texts:
        assert parse_mass_kg(text) == pytest.approx(kg, rel=5e-3, abs=1e-15), text


@pytest.mark.parametrize("kwh", MAGNITUDES)
def test_every_printed_energy_parses_back(kwh):
    text = format_energy(kwh)
    assert parse_energy_kwh(text) == pytest.approx(kwh, rel=5e-3, abs=1e-15), text


def test_every_display_unit_parses():
    """Chart and plot axes are labelled in DISPLAY_MASS_UNITS: each is a unit the parser knows."""
    from pytest_cegi.core.units import DISPLAY_MASS_UNITS, display_mass_unit

    for unit, factor in DISPLAY_MASS_UNITS:
        assert parse_mass_kg(f"2 {unit}") == pytest.approx(2 * factor)
        assert display_mass_unit(3 * factor) == (unit, factor)


def test_format_gain_points_are_points():
    from pytest_cegi.core.units import format_gain

    assert format_gain(3.21, "points") == "+3.21 pts"
    assert format_gain(3.21) == "+3.21%"
    assert format_gain(None) == "-"
