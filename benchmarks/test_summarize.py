"""Dialogue summarization scored with ROUGE-L (the CEGI paper's DialogSum task, scaled down)."""

import pytest
from cegi_bench import run_variant, variants_for


@pytest.mark.cegi(task="summarize")
@pytest.mark.parametrize("variant", variants_for("summarize"))
def test_summarize(cegi, variant):
    run_variant(cegi, "summarize", variant, "rouge")
