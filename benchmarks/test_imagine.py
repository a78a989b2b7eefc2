"""Text to image on generated shapes, scored by a pixel checker (the compact-models
study's third task, scaled down to 24x24 images and a tiny diffusers pipeline built
from configs: `benchmarks/cegi_imagine.py`).

Each prompt names a colour and a shape ("a red circle"); `cegi_imagine.check` says
whether the generated image shows that, at the task's size (the bases were pretrained on
smaller shapes; LoRA fine-tuning teaches the task's style). Variants follow the
study's axes (denoiser size, sampler, sampling steps) and the CEGI paper's (LoRA,
int8/nf4). The budget declares a deployment in images per day, so the report projects
each variant's emissions per day and per year. See benchmarks/README.md.
"""

import pytest
from cegi_bench import cache_dir, run_imagine

pytest.importorskip("diffusers", reason="the text-to-image suite needs diffusers: pip install 'pytest-cegi[diffusion]'")

import cegi_imagine


@pytest.mark.cegi(task="imagine")
@pytest.mark.parametrize("variant", cegi_imagine.VARIANTS, ids=lambda v: v.name)
def test_imagine(cegi, variant, pytestconfig):
    run_imagine(cegi, variant, cache_dir(pytestconfig))
