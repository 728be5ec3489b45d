#!/usr/bin/env python3
"""Fetch and prepare the MLPerf OpenImages validation subset for RetinaNet.

Does what MLCommons' tools/openimages_mlperf.sh (openimages.py) does, without boto3 or pandas:

1. download OpenImages' validation box annotations and class names (Google storage CSVs);
2. pick every validation image with a box of one of the 264 MLPerf classes
   (``--max-images N --seed 42`` samples N of them, with replacement, as the reference does);
3. download those images from the public open-images-dataset bucket;
4. write annotations/openimages-mlperf.json in COCO format: categories 0..263 in the MLPerf
   order, image ids 1..N in image-id order, boxes in pixels of the original image.

The result is the layout the harness reads (``--data-dir DIR`` or $MLPERF_DATA_DIR/openimages):
    DIR/annotations/openimages-mlperf.json
    DIR/validation/data/<image id>.jpg

``--calibration`` instead downloads the 500 calibration images MLPerf lists
(models/retinanet/calibration/openimages_cal_images_list.txt, from the train split) into
DIR/calibration/data.

    python scripts/prepare_openimages.py                 # into $MLPERF_DATA_DIR/openimages (default data/openimages)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from models.retinanet.classes import MLPERF_CLASSES  # noqa: E402
from scripts.download import DownloadError, data_root, download  # noqa: E402

CALIBRATION_LIST = ROOT / "models" / "retinanet" / "calibration" / "openimages_cal_images_list.txt"


@dataclass(frozen=True)
class Sources:
    """Where the files come from; a mirror (--base-url) serves them all under one root."""

    boxes: str = "https://storage.googleapis.com/openimages/v5/validation-annotations-bbox.csv"
    classes: str = "https://storage.googleapis.com/openimages/v5/class-descriptions-boxable.csv"
    image: str = "https://open-images-dataset.s3.amazonaws.com/{split}/{image_id}.jpg"

    @classmethod
    def mirror(cls, base_url: str) -> "Sources":
        base = base_url.rstrip("/")
        return cls(f"{base}/validation-annotations-bbox.csv", f"{base}/class-descriptions-boxable.csv",
                   base + "/{split}/{image_id}.jpg")


def fetch_quietly(url: str, dest: Path, attempts: int = 3) -> None:
    """One image into dest (atomically, kept if there), retrying; many run in parallel, so no progress lines."""
    if dest.is_file():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            partial.replace(dest)
            return
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if attempt == attempts:
                raise DownloadError(f"could not download {url}: {exc}") from None
            time.sleep(2 * attempt)


def label_categories(class_rows: Iterable[Sequence[str]], classes: Sequence[str]) -> dict[str, int]:
    """OpenImages label name (e.g. /m/0cmf2) -> MLPerf category id, from class-descriptions-boxable.csv rows."""
    category_of = {name: i for i, name in enumerate(classes)}
    return {row[0]: category_of[row[1]] for row in class_rows if len(row) >= 2 and row[1] in category_of}


def select_images(box_rows: Sequence[dict[str, str]], labels: dict[str, int], max_images: int | None,
                  seed: int | None) -> list[str]:
    """Image ids with at least one box of an MLPerf class, in order of first appearance (optionally sampled)."""
    found: dict[str, None] = {}
    for row in box_rows:
        if row["LabelName"] in labels:
            found.setdefault(row["ImageID"], None)
    image_ids = list(found)
    if max_images is not None:
        import numpy as np

        np.random.seed(seed)  # the reference's sampling: numpy's global generator, with replacement
        picked = np.random.choice(len(image_ids), size=max_images)
        image_ids = [image_ids[i] for i in picked]
    return image_ids


def build_coco(box_rows: Sequence[dict[str, str]], labels: dict[str, int], image_ids: Sequence[str],
               dims: dict[str, tuple[int, int]], classes: Sequence[str]) -> dict[str, Any]:
    """The COCO-format annotation file: images numbered 1..N in sorted image-id order.

    ``dims`` holds (height, width) per image id. Like the reference's pandas merge, an image
    sampled twice contributes its boxes twice.
    """
    copies: dict[str, int] = {}
    for image_id in image_ids:
        copies[image_id] = copies.get(image_id, 0) + 1
    kept = [row for row in box_rows if row["ImageID"] in copies and row["LabelName"] in labels]
    kept.sort(key=lambda row: row["ImageID"])  # stable: file order within an image
    number = {image_id: n for n, image_id in enumerate(sorted({row["ImageID"] for row in kept}), 1)}
    images = []
    for image_id, n in number.items():
        height, width = dims[image_id]
        images.append({"id": n, "file_name": f"{image_id}.jpg", "height": height, "width": width,
                       "license": None, "coco_url": None})
    annotations = []
    for row in kept:
        height, width = dims[row["ImageID"]]
        x_min, x_max = float(row["XMin"]), float(row["XMax"])
        y_min, y_max = float(row["YMin"]), float(row["YMax"])
        bbox = [x_min * width, y_min * height, (x_max - x_min) * width, (y_max - y_min) * height]
        flags = {key: int(row[key]) for key in ("IsOccluded", "IsInside", "IsDepiction", "IsTruncated", "IsGroupOf")}
        for _ in range(copies[row["ImageID"]]):
            annotations.append({"id": len(annotations) + 1, "image_id": number[row["ImageID"]],
                                "category_id": labels[row["LabelName"]], "bbox": bbox, "area": bbox[2] * bbox[3],
                                "iscrowd": flags["IsGroupOf"], **flags})
    return {
        "info": {"dataset": "openimages_mlperf", "version": "v6"},
        "licenses": [],
        "categories": [{"id": i, "name": name, "supercategory": None} for i, name in enumerate(classes)],
        "images": images,
        "annotations": annotations,
    }


def image_dims(path: Path) -> tuple[int, int]:
    import cv2

    image = cv2.imread(str(path))
    if image is None:
        raise OSError(f"cannot decode {path}: delete it and run this script again")
    return int(image.shape[0]), int(image.shape[1])


def fetch_images(sources: Sources, split: str, image_ids: Iterable[str], folder: Path, workers: int) -> None:
    todo = sorted(set(image_ids))
    started = time.monotonic()

    def one(image_id: str) -> None:
        fetch_quietly(sources.image.format(split=split, image_id=image_id), folder / f"{image_id}.jpg")

    with ThreadPoolExecutor(workers) as pool:
        for done, _ in enumerate(pool.map(one, todo), 1):
            if done % 500 == 0 or done == len(todo):
                print(f"  {done}/{len(todo)} images ({time.monotonic() - started:.0f} s)", flush=True)


def prepare_validation(dest: Path, max_images: int | None, seed: int | None, workers: int,
                       sources: Sources = Sources()) -> Path:
    annotations_dir = dest / "annotations"
    download(sources.boxes, annotations_dir / "validation-annotations-bbox.csv")
    download(sources.classes, annotations_dir / "class-descriptions-boxable.csv")
    with open(annotations_dir / "class-descriptions-boxable.csv", newline="", encoding="utf-8") as handle:
        labels = label_categories(csv.reader(handle), MLPERF_CLASSES)
    with open(annotations_dir / "validation-annotations-bbox.csv", newline="", encoding="utf-8") as handle:
        box_rows = list(csv.DictReader(handle))
    image_ids = select_images(box_rows, labels, max_images, seed)
    print(f"{len(set(image_ids))} images with MLPerf classes; downloading into {dest / 'validation' / 'data'}")
    image_dir = dest / "validation" / "data"
    fetch_images(sources, "validation", image_ids, image_dir, workers)
    dims = {image_id: image_dims(image_dir / f"{image_id}.jpg") for image_id in set(image_ids)}
    coco = build_coco(box_rows, labels, image_ids, dims, MLPERF_CLASSES)
    out = annotations_dir / "openimages-mlperf.json"
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(coco))
    partial.replace(out)
    print(f"wrote {out}: {len(coco['images'])} images, {len(coco['annotations'])} boxes")
    return out


def prepare_calibration(dest: Path, workers: int, sources: Sources = Sources()) -> None:
    names = [line.strip() for line in CALIBRATION_LIST.read_text().splitlines() if line.strip()]
    folder = dest / "calibration" / "data"
    print(f"downloading {len(names)} calibration images (train split) into {folder}")
    fetch_images(sources, "train", [name.rsplit(".", 1)[0] for name in names], folder, workers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-dir", type=Path, default=None,
                        help="where to put the dataset (default: $MLPERF_DATA_DIR/openimages)")
    parser.add_argument("--max-images", type=int, help="sample this many images (the reference's -m)")
    parser.add_argument("--seed", type=int, default=42, help="seed for --max-images (default 42, as the reference)")
    parser.add_argument("--workers", type=int, default=10, help="parallel downloads")
    parser.add_argument("--calibration", action="store_true", help="fetch the 500 calibration images instead")
    parser.add_argument("--base-url", help="a mirror serving the two CSVs and <split>/<image id>.jpg")
    args = parser.parse_args(argv)
    dest = args.dataset_dir or data_root() / "openimages"
    sources = Sources.mirror(args.base_url) if args.base_url else Sources()
    try:
        if args.calibration:
            prepare_calibration(dest, args.workers, sources)
        else:
            prepare_validation(dest, args.max_images, args.seed, args.workers, sources)
    except (DownloadError, OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
