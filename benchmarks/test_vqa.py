"""Visual question answering on generated images (shapes, colours, counts), scored with
VQA accuracy (the CEGI paper's VQA task, scaled down to a 48x48-pixel world).

The images are rendered with PIL by benchmarks/data/generate.py and turned into patch
tokens by a fixed, hand-written patch encoder (one token per 16x16 cell: colour and
shape read off the pixels); the tiny language model that reads them is what is
pretrained, fine-tuned and measured. See benchmarks/README.md for what this is not.
"""
import pytest

from cegi_bench import run_variant, variants_for


@pytest.mark.cegi(task="vqa")
@pytest.mark.parametrize("variant", variants_for("vqa"))
def test_vqa(cegi, variant):
    run_variant(cegi, "vqa", variant, "vqa_accuracy")
