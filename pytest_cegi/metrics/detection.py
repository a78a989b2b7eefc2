"""detection_map: COCO box mAP computed by pycocotools' own COCOeval.

Predictions, one dict per image: ``{"boxes": [[x1, y1, x2, y2], ...], "scores": [...],
"labels": [...]}``; references: ``{"boxes": [...], "labels": [...]}``. Boxes are
converted to COCO's ``[x, y, width, height]``, both sides are built as in-memory COCO
objects, and COCOeval runs with its defaults (IoU .50:.05:.95, at most 100 detections
per image, COCO's area ranges). pycocotools is an optional dependency (extra
``detection``), imported on first use.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
from collections.abc import Sequence
from typing import Any

from pytest_cegi.metrics.base import Metric, MetricError, MissingDependency, reject_options

EXTRA = "detection"
# COCOeval.stats, in order, under the names torchmetrics uses.
STAT_NAMES = (
    "map",
    "map_50",
    "map_75",
    "map_small",
    "map_medium",
    "map_large",
    "mar_1",
    "mar_10",
    "mar_100",
    "mar_small",
    "mar_medium",
    "mar_large",
)


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise MissingDependency(
            f'detection_map needs pycocotools; install it with `pip install "pytest-cegi[{EXTRA}]"` '
            f"(or `pip install pycocotools`) ({exc})"
        ) from exc
    return COCO, COCOeval


def _as_list(value: Any, what: str) -> list:
    if hasattr(value, "tolist"):  # numpy arrays, torch tensors
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise MetricError(f"detection_map: {what} must be a list, got {type(value).__name__}")
    return list(value)


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _boxes(value: Any, what: str) -> list[list[float]]:
    boxes = _as_list(value, what)
    out = []
    for j, box in enumerate(boxes):
        coords = _as_list(box, f"{what}[{j}]")
        if len(coords) != 4 or not all(_finite(c) for c in coords):
            raise MetricError(f"detection_map: {what}[{j}] must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
        x1, y1, x2, y2 = (float(c) for c in coords)
        if x2 < x1 or y2 < y1:
            raise MetricError(
                f"detection_map: {what}[{j}] has x2 < x1 or y2 < y1: {box!r} "
                f"(boxes are [x1, y1, x2, y2], not [x, y, width, height])"
            )
        out.append([x1, y1, x2, y2])
    return out


def _labels(value: Any, what: str) -> list[int]:
    labels = _as_list(value, what)
    for j, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, numbers.Integral):
            raise MetricError(f"detection_map: {what}[{j}] must be an int class id, got {label!r}")
    return [int(label) for label in labels]


def _scores(value: Any, what: str) -> list[float]:
    scores = _as_list(value, what)
    for j, score in enumerate(scores):
        if not _finite(score):
            raise MetricError(f"detection_map: {what}[{j}] must be a finite number, got {score!r}")
    return [float(s) for s in scores]


def _image(item: Any, index: int, side: str, keys: tuple[str, ...]) -> dict:
    if not isinstance(item, dict):
        raise MetricError(
            f"detection_map: {side} {index} must be a dict with keys {list(keys)}, got {type(item).__name__}"
        )
    missing = [k for k in keys if k not in item]
    if missing:
        raise MetricError(f"detection_map: {side} {index} lacks {missing} (needs {list(keys)})")
    where = f"{side} {index}"
    parsed: dict[str, list[Any]] = {
        "boxes": _boxes(item["boxes"], f"{where} boxes"),
        "labels": _labels(item["labels"], f"{where} labels"),
    }
    if "scores" in keys:
        parsed["scores"] = _scores(item["scores"], f"{where} scores")
    lengths = {k: len(v) for k, v in parsed.items()}
    if len(set(lengths.values())) > 1:
        raise MetricError(f"detection_map: {where} has lists of different lengths {lengths}")
    return parsed


def _xywh(box: list[float]) -> list[float]:
    x1, y1, x2, y2 = box
    return [x1, y1, x2 - x1, y2 - y1]


def coco_inputs(preds: list[dict], refs: list[dict]) -> tuple[dict, list[dict]]:
    """(ground-truth COCO dataset dict, detection results list), image ids 0..N-1."""
    categories = sorted({c for item in preds + refs for c in item["labels"]})
    annotations: list[dict[str, Any]] = []
    for image_id, ref in enumerate(refs):
        for box, label in zip(ref["boxes"], ref["labels"], strict=True):
            xywh = _xywh(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": label,
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": 0,
                }
            )
    dataset = {
        "images": [{"id": i} for i in range(len(refs))],
        "annotations": annotations,
        "categories": [{"id": c} for c in categories],
    }
    results = [
        {"image_id": image_id, "category_id": label, "bbox": _xywh(box), "score": score}
        for image_id, pred in enumerate(preds)
        for box, label, score in zip(pred["boxes"], pred["labels"], pred["scores"], strict=True)
    ]
    return dataset, results


def coco_stats(dataset: dict, results: list[dict]) -> list[float]:
    """COCOeval(bbox).stats for in-memory inputs, with pycocotools' printing silenced."""
    COCO, COCOeval = _pycocotools()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        if results:
            dt = gt.loadRes(results)
        else:  # loadRes cannot take an empty list; no detections at all
            dt = COCO()
            dt.dataset = {"images": dataset["images"], "categories": dataset["categories"], "annotations": []}
            dt.createIndex()
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(s) for s in evaluator.stats]


class DetectionMap(Metric):
    """COCO mAP@[.5:.95] (primary), mAP@.5, mAP@.75, and COCOeval's other figures."""

    name = "detection_map"
    primary_key = "map"

    def score(self, predictions: Sequence, references: Sequence, **kwargs: Any) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        preds = [_image(p, i, "prediction", ("boxes", "scores", "labels")) for i, p in enumerate(predictions)]
        refs = [_image(r, i, "reference", ("boxes", "labels")) for i, r in enumerate(references)]
        if not any(ref["boxes"] for ref in refs):
            raise MetricError("detection_map: no reference has any box, so mAP is undefined (COCOeval would report -1)")
        dataset, results = coco_inputs(preds, refs)
        stats = coco_stats(dataset, results)
        # COCOeval's -1 means "no ground truth in this slice" (e.g. no small objects):
        # such figures are left out of the scores, never reported as a number.
        scores = {name: value for name, value in zip(STAT_NAMES, stats, strict=True) if value != -1}
        details = {
            "undefined": [name for name, value in zip(STAT_NAMES, stats, strict=True) if value == -1],
            "images": len(refs),
            "ground_truth_boxes": len(dataset["annotations"]),
            "detections": len(results),
            "categories": [c["id"] for c in dataset["categories"]],
            "evaluation": "pycocotools COCOeval, iouType=bbox, default params (maxDets 1/10/100)",
        }
        return scores, details


__all__ = ["DetectionMap", "coco_inputs", "coco_stats"]
