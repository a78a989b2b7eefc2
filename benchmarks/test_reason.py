"""Arithmetic word problems with GSM8K-style answers ("3 + 4 = 7 #### 7"), scored with
numeric_accuracy (the small-vs-large study's reasoning task, scaled down to one- and
two-step problems on small numbers). See benchmarks/README.md."""

import pytest
from cegi_bench import run_variant, variants_for


@pytest.mark.cegi(task="reason")
@pytest.mark.parametrize("variant", variants_for("reason"))
def test_reason(cegi, variant):
    run_variant(cegi, "reason", variant, "numeric_accuracy")
