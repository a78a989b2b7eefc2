"""Object detection on generated images of shapes, scored with COCO mAP@[.5:.95]
(pycocotools' COCOeval; the compact-models study's detection task, scaled down to
32x32 images and a tiny Conditional DETR built from configs).

Inference is repeated 5 times per variant (`--cegi-repeat 15`: the 15 runs the study
averaged its figures over), and the budget declares the study's deployment (15 frames
per second on 24 million cameras), so the report projects each variant's emissions per
day and per year.
See benchmarks/README.md.
"""

import pytest
from cegi_bench import run_detection

pytest.importorskip("pycocotools", reason="detection_map needs pycocotools: pip install 'pytest-cegi[detection]'")

import cegi_detect


@pytest.mark.cegi(task="detect")
@pytest.mark.parametrize("variant", cegi_detect.VARIANTS, ids=lambda v: v.name)
def test_detect(cegi, variant):
    run_detection(cegi, variant)
