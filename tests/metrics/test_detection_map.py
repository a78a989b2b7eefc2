import contextlib
import io
import json
import random
import sys

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics.detection import STAT_NAMES

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def direct_stats(preds, refs, tmp_path):
    """COCOeval the way its README does it: a ground-truth JSON file and loadRes."""
    images, annotations, results, cats = [], [], [], set()
    for image_id, (pred, ref) in enumerate(zip(preds, refs, strict=True)):
        images.append({"id": image_id, "width": 640, "height": 480})
        for (x1, y1, x2, y2), label in zip(ref["boxes"], ref["labels"], strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": label,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
            cats.add(label)
        for (x1, y1, x2, y2), label, score in zip(pred["boxes"], pred["labels"], pred["scores"], strict=True):
            results.append(
                {"image_id": image_id, "category_id": label, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score}
            )
            cats.add(label)
    path = tmp_path / "gt.json"
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": c, "name": str(c)} for c in sorted(cats)],
            }
        )
    )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(STAT_NAMES, evaluator.stats.tolist(), strict=True))


def random_box(rng, size=200.0):
    x1, y1 = rng.uniform(0, size), rng.uniform(0, size)
    return [x1, y1, x1 + rng.uniform(1, 120), y1 + rng.uniform(1, 120)]


def jitter(rng, box, amount):
    return [c + rng.uniform(-amount, amount) for c in box[:2]] + [c + rng.uniform(-amount, amount) for c in box[2:]]


def random_case(rng):
    preds, refs = [], []
    for _ in range(rng.randint(1, 6)):
        gt = [random_box(rng) for _ in range(rng.choice([0, 1, 2, 3, 5, 8]))]
        labels = [rng.randint(1, 3) for _ in gt]
        boxes, scores, plabels = [], [], []
        for box, label in zip(gt, labels, strict=True):
            if rng.random() < 0.8:
                boxes.append(jitter(rng, box, rng.choice([1, 5, 15])))
                scores.append(rng.random())
                plabels.append(label if rng.random() < 0.9 else rng.randint(1, 4))
        for _ in range(rng.randint(0, 4)):  # false positives, some of a class with no ground truth
            boxes.append(random_box(rng))
            scores.append(rng.random())
            plabels.append(rng.randint(1, 4))
        boxes = [[x1, y1, max(x1, x2), max(y1, y2)] for x1, y1, x2, y2 in boxes]
        preds.append({"boxes": boxes, "scores": scores, "labels": plabels})
        refs.append({"boxes": gt, "labels": labels})
    if not any(r["boxes"] for r in refs):
        refs[0] = {"boxes": [random_box(rng)], "labels": [1]}
    return preds, refs


def test_agrees_with_pycocotools_on_random_boxes(tmp_path):
    rng = random.Random(20240611)
    worst, compared = 0.0, 0
    for _ in range(60):
        preds, refs = random_case(rng)
        if not any(p["boxes"] for p in preds):
            continue
        ours = metrics.compute("detection_map", preds, refs)
        theirs = direct_stats(preds, refs, tmp_path)
        defined = {k: v for k, v in theirs.items() if v != -1}
        assert set(ours.scores) == set(defined)
        assert sorted(ours.details["undefined"]) == sorted(k for k, v in theirs.items() if v == -1)
        worst = max([worst] + [abs(ours.scores[k] - v) for k, v in defined.items()])
        compared += 1
    assert compared >= 50
    assert worst <= 1e-6


def test_perfect_predictions_score_one():
    refs = [
        {"boxes": [[10, 10, 50, 60], [100, 100, 300, 250]], "labels": [1, 2]},
        {"boxes": [[0, 0, 20, 20]], "labels": [1]},
    ]
    preds = [{"boxes": r["boxes"], "scores": [0.9] * len(r["boxes"]), "labels": r["labels"]} for r in refs]
    result = metrics.compute("detection_map", preds, refs)
    assert result.key == "map"
    for key in ("map", "map_50", "map_75", "mar_100"):
        assert result.scores[key] == pytest.approx(1.0, abs=1e-12)


def test_hand_computed_cases():
    gt = {"boxes": [[0, 0, 10, 10]], "labels": [1]}
    # IoU 0.72: a match at thresholds .50-.70 (5 of 10), none at .75
    partial = metrics.compute("detection_map", [{"boxes": [[0, 0, 10, 7.2]], "scores": [0.8], "labels": [1]}], [gt])
    assert partial.scores["map"] == pytest.approx(0.5)
    assert partial.scores["map_50"] == pytest.approx(1.0) and partial.scores["map_75"] == 0.0
    # a false positive ranked above the true positive: precision 1/2 at every recall
    ranked = metrics.compute(
        "detection_map", [{"boxes": [[50, 50, 60, 60], [0, 0, 10, 10]], "scores": [0.9, 0.5], "labels": [1, 1]}], [gt]
    )
    assert ranked.value == pytest.approx(0.5)
    # a wrong class is a miss, and its class (no ground truth) is left out of the mean
    wrong = metrics.compute("detection_map", [{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "labels": [2]}], [gt])
    assert wrong.value == 0.0


def test_images_without_references_or_predictions():
    refs = [
        {"boxes": [[0, 0, 10, 10]], "labels": [1]},
        {"boxes": [], "labels": []},
        {"boxes": [[20, 20, 40, 40]], "labels": [1]},
    ]
    preds = [
        {"boxes": [[0, 0, 10, 10]], "scores": [0.5], "labels": [1]},
        {"boxes": [[5, 5, 9, 9]], "scores": [0.9], "labels": [1]},  # on an image with no ground truth
        {"boxes": [], "scores": [], "labels": []},
    ]  # a missed object
    result = metrics.compute("detection_map", preds, refs)
    # one FP above the only TP, and recall stops at 1/2: precision 1/2 on 51 of 101 recall points
    assert result.value == pytest.approx(0.5 * 51 / 101)
    none = metrics.compute("detection_map", [{"boxes": [], "scores": [], "labels": []}] * 3, refs)
    assert none.value == 0.0


def test_undefined_figures_are_left_out_not_minus_one():
    # only small objects (area < 32^2): COCOeval reports -1 for medium and large
    result = metrics.compute(
        "detection_map",
        [{"boxes": [[0, 0, 10, 10]], "scores": [1.0], "labels": [3]}],
        [{"boxes": [[0, 0, 10, 10]], "labels": [3]}],
    )
    assert -1 not in result.scores.values()
    assert {"map_medium", "map_large", "mar_medium", "mar_large"} == set(result.details["undefined"])
    with pytest.raises(metrics.MetricError, match="no reference has any box"):
        metrics.compute(
            "detection_map", [{"boxes": [[0, 0, 1, 1]], "scores": [1.0], "labels": [1]}], [{"boxes": [], "labels": []}]
        )


def test_numpy_arrays_are_accepted():
    np = pytest.importorskip("numpy")
    preds = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "scores": np.array([0.7]), "labels": np.array([1])}]
    refs = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "labels": np.array([1])}]
    assert metrics.compute("detection_map", preds, refs).value == pytest.approx(1.0)


GOOD_REF = {"boxes": [[0, 0, 10, 10]], "labels": [1]}


@pytest.mark.parametrize(
    "pred, ref, message",
    [
        ({"boxes": [[0, 0, 10, 10]], "scores": [0.5, 0.4], "labels": [1]}, GOOD_REF, "different lengths"),
        ({"boxes": [[10, 0, 0, 10]], "scores": [0.5], "labels": [1]}, GOOD_REF, "x2 < x1"),
        ({"boxes": [[0, 0, 10, float("nan")]], "scores": [0.5], "labels": [1]}, GOOD_REF, "4 finite numbers"),
        ({"boxes": [[0, 0, 10]], "scores": [0.5], "labels": [1]}, GOOD_REF, "4 finite numbers"),
        ({"boxes": [[0, 0, 10, 10]], "scores": [float("inf")], "labels": [1]}, GOOD_REF, "finite number"),
        ({"boxes": [[0, 0, 10, 10]], "scores": [0.5], "labels": [1.0]}, GOOD_REF, "int class id"),
        ({"boxes": [[0, 0, 10, 10]], "scores": [0.5], "labels": [True]}, GOOD_REF, "int class id"),
        ({"boxes": [[0, 0, 10, 10]], "labels": [1]}, GOOD_REF, r"lacks \['scores'\]"),
        ([[0, 0, 10, 10]], GOOD_REF, "must be a dict"),
        (
            {"boxes": [[0, 0, 10, 10]], "scores": [0.5], "labels": [1]},
            {"boxes": [[0, 0, 5, 5]], "labels": ["cat"]},
            "reference 0 labels",
        ),
        ({"boxes": "0 0 10 10", "scores": [0.5], "labels": [1]}, GOOD_REF, "boxes must be a list"),
    ],
)
def test_bad_inputs(pred, ref, message):
    with pytest.raises(metrics.MetricError, match=message):
        metrics.compute("detection_map", [pred], [ref])


def test_missing_pycocotools_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)  # makes the import fail
    with pytest.raises(metrics.MissingDependency, match=r'pip install "pytest-cegi\[detection\]"'):
        metrics.compute("detection_map", [{"boxes": [], "scores": [], "labels": []}], [GOOD_REF])
