"""A small OpenImages-format demo set: real JPEGs plus a COCO-format openimages-mlperf.json.

Pictures are procedural (gradient background, noise) in the sizes OpenImages has,
with a few drawn shapes; every shape is annotated with its exact box and a random
one of the 264 MLPerf classes. Loader, preprocessing and the pycocotools mAP run as
on the real set; an untrained network scores ~0 on it, and detections equal to the
annotations score 100%.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.retinanet.classes import MLPERF_CLASSES
from models.retinanet.dataset import ANNOTATIONS, DEMO_MARKER, IMAGES_DIR

# (width, height): OpenImages validation pictures are scaled to 1024 on the long side.
_SIZES = ((1024, 768), (768, 1024), (1024, 683), (683, 1024), (1024, 576), (1024, 1024), (1024, 680))


def _picture(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, list[list[float]]]:
    """A BGR picture and the [x, y, w, h] boxes of the shapes drawn on it."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), dtype=np.float32)
    for c in range(3):
        slope_x, slope_y = rng.uniform(-0.2, 0.2, size=2)
        image[..., c] = rng.uniform(40, 215) + slope_x * xx + slope_y * yy
    image = np.clip(image, 0, 255).astype(np.uint8)
    boxes = []
    for _ in range(int(rng.integers(1, 6))):
        w = int(rng.integers(width // 12, width // 2))
        h = int(rng.integers(height // 12, height // 2))
        x = int(rng.integers(0, width - w))
        y = int(rng.integers(0, height - h))
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
        else:
            cv2.ellipse(image, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, thickness=-1)
        boxes.append([float(x), float(y), float(w), float(h)])
    noise = rng.normal(0, 6, size=image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), boxes


def write_demo_openimages(dest: Path, count: int, seed: int = 2022) -> None:
    """Write ``count`` JPEGs under validation/data and annotations/openimages-mlperf.json into dest."""
    rng = np.random.default_rng(seed)
    image_dir = dest / IMAGES_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    names = sorted({f"{int(v):016x}" for v in rng.integers(0, 2**63, size=count * 2)})
    chosen = sorted(rng.choice(len(names), size=count, replace=False).tolist())
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, position in enumerate(chosen, 1):  # ids follow the sorted image names, as in the real file
        width, height = _SIZES[int(rng.integers(0, len(_SIZES)))]
        picture, boxes = _picture(rng, width, height)
        file_name = f"{names[position]}.jpg"
        if not cv2.imwrite(str(image_dir / file_name), picture, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"could not write {image_dir / file_name}")
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width,
                       "license": None, "coco_url": None})
        for box in boxes:
            group = int(rng.random() < 0.1)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": int(rng.integers(0, len(MLPERF_CLASSES))), "bbox": box,
                "area": box[2] * box[3], "iscrowd": group, "IsOccluded": 0, "IsInside": 0,
                "IsDepiction": 0, "IsTruncated": 0, "IsGroupOf": group,
            })
    coco = {
        "info": {"dataset": "openimages_mlperf", "version": "v6", "description": "generated demo data"},
        "licenses": [],
        "categories": [{"id": i, "name": name, "supercategory": None} for i, name in enumerate(MLPERF_CLASSES)],
        "images": images,
        "annotations": annotations,
    }
    (dest / ANNOTATIONS).parent.mkdir(parents=True, exist_ok=True)
    (dest / ANNOTATIONS).write_text(json.dumps(coco))
    (dest / DEMO_MARKER).write_text(
        "Generated demo data in the MLPerf OpenImages format (procedural pictures, random classes).\n"
        "It exercises the real loader, preprocessing and mAP computation; its mAP means nothing.\n"
    )
