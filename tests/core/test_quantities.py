"""The table of compared quantities is the one definition the others derive from."""

from __future__ import annotations

from pytest_cegi.core import quantities, tolerances
from pytest_cegi.core.quantities import JUDGED, QUANTITIES, QUANTITY, UNITS
from pytest_cegi.core.run import SavedRecord
from pytest_cegi.core.units import parse_tolerance
from pytest_cegi.judge import regression


def test_every_entry_is_well_formed() -> None:
    for q in QUANTITIES:
        assert q.judged in JUDGED and q.unit in UNITS
        parse_tolerance(q.default_tolerance)
        assert q.stored is None or q.stored in SavedRecord.__dataclass_fields__
    assert len(QUANTITY) == len(QUANTITIES)


def test_settings_and_judge_derive_from_the_table() -> None:
    names = tuple(q.name for q in QUANTITIES)
    assert regression.QUANTITIES == tolerances.REGRESSION_QUANTITIES == names
    # single_sample is a tolerance key, not a quantity
    assert (*names, "single_sample") == tolerances.REGRESSION_KEYS
    assert regression.ENERGY_DERIVED == quantities.names("measured") == ("emissions", "energy", "cegi")
    assert regression.MODELLED == ("modelled_energy", "modelled_emissions")
    assert {k: t.text for k, t in regression.DEFAULT_TOLERANCES.items()} == tolerances.DEFAULT_MAX_REGRESSION


def test_formatting_by_unit() -> None:
    assert QUANTITY["score"].format(None) == "-"
    assert QUANTITY["cost"].format(1234567.0) == "1.235e+06"
    assert QUANTITY["emissions"].format(2e-6) == regression.format_value("modelled_emissions", 2e-6)
