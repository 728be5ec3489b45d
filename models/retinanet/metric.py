"""COCO mAP over the accuracy log, computed the way MLCommons' accuracy-openimages.py computes it.

Per QSL index the first record counts (LoadGen may log a sample twice). A record is
float32 [image_idx, ymin, xmin, ymax, xmax, score, label] with coordinates in 0-1;
they are scaled by the original image's height and width from the annotation file
and handed to pycocotools as [x, y, w, h] with category id = label. Images logged
without any detection still count (their ground truth becomes misses). The score
is ``COCOeval.stats[0]`` (AP at IoU 0.50:0.95, all areas, 100 detections).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from models.base import AccuracyEntry, AccuracyResult

RECORD_FLOATS = 7


def _coco(annotation_file: Path) -> Any:
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(annotation_file))


def detections_from_log(entries: Sequence[AccuracyEntry], images: list[dict[str, Any]]
                        ) -> tuple[list[dict[str, Any]], set[int], list[str]]:
    """pycocotools result dicts, the image ids taking part, and notes on odd records."""
    detections: list[dict[str, Any]] = []
    image_ids: set[int] = set()
    seen: set[int] = set()
    mismatched = 0
    for entry in entries:
        idx = entry.qsl_idx
        if idx in seen:
            continue
        seen.add(idx)
        if not 0 <= idx < len(images):
            raise HarnessError(f"the accuracy log names sample {idx}, but the annotation file has "
                               f"{len(images)} images", "score a log against the dataset it was run on")
        image = images[idx]
        image_ids.add(int(image["id"]))
        records = np.frombuffer(entry.data, dtype=np.float32)
        if len(records) < RECORD_FLOATS:
            continue
        records = records[: len(records) // RECORD_FLOATS * RECORD_FLOATS].reshape(-1, RECORD_FLOATS)
        mismatched += int(np.count_nonzero(records[:, 0].astype(np.int64) != idx))
        height, width = image["height"], image["width"]
        for _, ymin, xmin, ymax, xmax, score, label in records.tolist():
            ymin, xmin, ymax, xmax = ymin * height, xmin * width, ymax * height, xmax * width
            detections.append({"image_id": int(image["id"]), "category_id": int(label),
                               "bbox": [xmin, ymin, xmax - xmin, ymax - ymin], "score": score})
    notes = []
    if mismatched:
        notes.append(f"{mismatched} records name another image than the sample they were logged for")
    return detections, image_ids, notes


def openimages_map(entries: Sequence[AccuracyEntry], annotation_file: Path) -> AccuracyResult:
    """mAP (percent) of the logged detections against a COCO-format annotation file."""
    if not entries:
        raise HarnessError("the accuracy log has no records", "rerun in accuracy mode")
    gt = _coco(annotation_file)
    detections, image_ids, notes = detections_from_log(entries, gt.dataset["images"])
    if not detections:  # pycocotools cannot load an empty result list
        notes.append("no detections in the log: mAP is 0")
        return AccuracyResult({"mAP": 0.0}, "mAP=0.000%", notes)
    from pycocotools.cocoeval import COCOeval

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        dt = gt.loadRes(detections)
        evaluation = COCOeval(gt, dt, iouType="bbox")
        evaluation.params.imgIds = sorted(image_ids)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = float(evaluation.stats[0])
    value = 100.0 * max(stats, 0.0)  # -1 means no ground truth in the scored images
    if stats < 0:
        notes.append("the scored images have no ground-truth boxes")
    summary = [line for line in captured.getvalue().splitlines() if line.lstrip().startswith("Average")]
    report = "\n".join([*summary, f"mAP={value:.3f}%"])
    return AccuracyResult({"mAP": value}, report, notes)
