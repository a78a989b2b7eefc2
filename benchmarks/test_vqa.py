"""Visual question answering on generated scenes (shapes, colours, positions, counts),
scored with VQA accuracy (the CEGI paper's VQA task, scaled down to 24x24 pixels).

The variants are a LLaVA-style vision-language model in miniature (CLIP vision tower,
projector, Llama text model, LLaVA processor), the same base models as the captioning
suite, pretrained by benchmarks/models/build.py; questions get one-word answers, as VQA
annotations do. See benchmarks/README.md.
"""

import pytest
from cegi_bench import run_variant, variants_for


@pytest.mark.cegi(task="vqa")
@pytest.mark.parametrize("variant", variants_for("vqa"))
def test_vqa(cegi, variant):
    run_variant(cegi, "vqa", variant, "vqa_accuracy")
