"""Image captioning on generated scenes, scored with CIDEr-D (the CEGI paper's first
task, scaled down to 24x24-pixel scenes of one to three coloured shapes).

The variants are a real vision-language architecture in miniature: a LLaVA-style model
(CLIP vision tower, projector, Llama text model, LLaVA processor) pretrained by
benchmarks/models/build.py and shared with the VQA suite. Each test image has three
reference captions, as COCO has several (SPICE, the paper's other caption metric,
needs Java, so CIDEr-D alone is the score). See benchmarks/README.md.
"""

import pytest
from cegi_bench import run_variant, variants_for


@pytest.mark.cegi(task="caption")
@pytest.mark.parametrize("variant", variants_for("caption"))
def test_caption(cegi, variant):
    run_variant(cegi, "caption", variant, "cider")
