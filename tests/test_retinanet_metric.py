"""COCO mAP over accuracy-log records, as MLCommons' accuracy-openimages.py computes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from models.base import AccuracyEntry
from models.retinanet.demo import write_demo_openimages
from models.retinanet.metric import openimages_map


def _record(idx: int, box_xywh: list[float], size_hw: tuple[int, int], score: float, label: int) -> list[float]:
    x, y, w, h = box_xywh
    height, width = size_hw
    return [idx, y / height, x / width, (y + h) / height, (x + w) / width, score, label]


def _entry(idx: int, records: list[list[float]]) -> AccuracyEntry:
    return AccuracyEntry(idx, np.asarray(records, dtype=np.float32).reshape(-1).tobytes())


def _annotations(tmp_path: Path) -> Path:
    """Two 200x100 (h x w) images; class 0 once in each, class 1 once in the first."""
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 200, "width": 100},
                   {"id": 2, "file_name": "b.jpg", "height": 200, "width": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 0, "bbox": [10, 20, 40, 60], "area": 2400, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 0, "bbox": [50, 100, 25, 50], "area": 1250, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [60, 120, 30, 40], "area": 1200, "iscrowd": 0},
        ],
        "categories": [{"id": 0, "name": "Airplane"}, {"id": 1, "name": "Antelope"}],
    }
    path = tmp_path / "openimages-mlperf.json"
    path.write_text(json.dumps(coco))
    return path


def test_perfect_predictions_score_100(tmp_path: Path) -> None:
    write_demo_openimages(tmp_path, 4)
    annotation_file = tmp_path / "annotations" / "openimages-mlperf.json"
    coco = json.loads(annotation_file.read_text())
    by_image: dict[int, list[list[float]]] = {image["id"]: [] for image in coco["images"]}
    sizes = {image["id"]: (image["height"], image["width"]) for image in coco["images"]}
    positions = {image["id"]: i for i, image in enumerate(coco["images"])}
    for ann in coco["annotations"]:
        image_id = ann["image_id"]
        by_image[image_id].append(_record(positions[image_id], ann["bbox"], sizes[image_id], 1.0, ann["category_id"]))
    entries = [_entry(positions[image_id], records) for image_id, records in by_image.items()]
    result = openimages_map(entries, annotation_file)
    assert result.metrics["mAP"] == pytest.approx(100.0)
    assert result.report.splitlines()[-1] == "mAP=100.000%"
    assert result.report.count("Average Precision") == 6


def test_crafted_mix_gives_the_hand_computed_map(tmp_path: Path) -> None:
    annotation_file = _annotations(tmp_path)
    size = (200, 100)
    entries = [
        _entry(0, [_record(0, [10, 20, 40, 60], size, 0.9, 0),   # class 0: hit
                   _record(0, [0, 0, 5, 5], size, 0.8, 0)]),      # class 0: false positive (no overlap)
        _entry(1, [_record(1, [50, 100, 25, 50], size, 0.7, 0),  # class 0: hit
                   _record(1, [60, 120, 30, 40], size, 0.6, 1)]),  # class 1: on the wrong image
        _entry(1, [_record(1, [0, 0, 1, 1], size, 0.99, 0)]),      # a second log of sample 1 is ignored
    ]
    result = openimages_map(entries, annotation_file)
    # Class 0, ranked: hit, miss, hit -> recall 0.5 at precision 1, recall 1 at precision 2/3. COCO's AP takes
    # the interpolated precision at 101 recall points: 51 points (0..0.50) at 1 and 50 points at 2/3.
    # Class 1 finds nothing: AP 0. The same at every IoU threshold, so mAP = mean of the two.
    class0 = (51 * 1.0 + 50 * (2.0 / 3.0)) / 101
    assert result.metrics["mAP"] == pytest.approx(100 * (class0 + 0.0) / 2, abs=1e-9)
    assert result.report.splitlines()[-1] == "mAP=41.749%"


def test_images_without_detections_count_as_misses(tmp_path: Path) -> None:
    annotation_file = _annotations(tmp_path)
    size = (200, 100)
    hit_first = [_entry(0, [_record(0, [10, 20, 40, 60], size, 0.9, 0), _record(0, [60, 120, 30, 40], size, 0.8, 1)])]
    alone = openimages_map(hit_first, annotation_file).metrics["mAP"]
    with_empty = openimages_map([*hit_first, AccuracyEntry(1, b"")], annotation_file).metrics["mAP"]
    assert alone == pytest.approx(100.0)  # only image 1 is scored
    assert with_empty == pytest.approx(100 * (51 / 101 + 1.0) / 2)  # image 2's class-0 box is now missed


def test_no_detections_at_all_is_zero_and_bad_logs_are_refused(tmp_path: Path) -> None:
    annotation_file = _annotations(tmp_path)
    result = openimages_map([AccuracyEntry(0, b""), AccuracyEntry(1, b"")], annotation_file)
    assert result.metrics["mAP"] == 0.0 and result.report == "mAP=0.000%"
    assert any("no detections" in note for note in result.notes)
    with pytest.raises(HarnessError, match="no records"):
        openimages_map([], annotation_file)
    with pytest.raises(HarnessError, match="names sample 5"):
        openimages_map([AccuracyEntry(5, b"")], annotation_file)


def test_records_naming_another_image_are_noted(tmp_path: Path) -> None:
    annotation_file = _annotations(tmp_path)
    wrong = [_entry(0, [_record(1, [10, 20, 40, 60], (200, 100), 0.9, 0)])]
    result = openimages_map(wrong, annotation_file)
    # scored against the sample it was logged for, as the reference does: class 0 hit, class 1 missed
    assert result.metrics["mAP"] == pytest.approx(50.0)
    assert any("another image" in note for note in result.notes)
