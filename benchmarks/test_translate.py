"""Translation from an English-like language into the synthetic language Veli, scored
with BLEU (recorded: it drives gain and CEGI) and chrF (reported alongside), as in the
compact-models study's translation task, scaled down."""

import pytest
from cegi_bench import run_variant, variants_for


@pytest.mark.cegi(task="translate")
@pytest.mark.parametrize("variant", variants_for("translate"))
def test_translate(cegi, variant, record_property):
    run_variant(cegi, "translate", variant, "bleu", also=("chrf",), record_property=record_property)
