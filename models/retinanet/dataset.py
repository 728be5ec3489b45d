"""The MLPerf OpenImages validation subset in the layout MLCommons' download script leaves:

    <dir>/annotations/openimages-mlperf.json   COCO format: images, annotations, 264 categories
    <dir>/validation/data/<image id>.jpg

QSL index i is the i-th entry of the JSON's ``images`` list (the accuracy script maps
records back the same way). The first open preprocesses every image once into a uint8
cache, one .npy of shape (N, 3, 800, 800) (models/image_cache.py); later opens memory-map it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.common import DEMO_MARKER
from harness.errors import HarnessError
from models.image_cache import CachedImageDataset, fingerprint, open_image_cache
from models.retinanet import preprocess

ANNOTATIONS = Path("annotations") / "openimages-mlperf.json"
IMAGES_DIR = Path("validation") / "data"
_FIX = "point --data-dir at the folder holding annotations/ and validation/data/ (scripts/prepare_openimages.py)"


def read_image_list(annotation_file: Path) -> list[dict[str, Any]]:
    """The ``images`` entries of a COCO-format annotation file, checked for the fields the harness uses."""
    try:
        with open(annotation_file, encoding="utf-8") as handle:
            coco = json.load(handle)
    except FileNotFoundError:
        raise HarnessError(f"no {ANNOTATIONS} in {annotation_file.parent.parent}", _FIX) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{annotation_file} is not valid JSON ({exc})",
                           "re-create it with scripts/prepare_openimages.py") from None
    images = coco.get("images") if isinstance(coco, dict) else None
    if not isinstance(images, list) or not images:
        raise HarnessError(f"{annotation_file} has no 'images' list", "it must be a COCO-format annotation file")
    for position, image in enumerate(images):
        missing = [key for key in ("id", "file_name", "height", "width") if key not in image]
        if missing:
            raise HarnessError(f"{annotation_file}: images[{position}] lacks {', '.join(missing)}",
                               "re-create it with scripts/prepare_openimages.py")
    return images


class OpenImagesDataset(CachedImageDataset):
    input_name = "images"
    name = "openimages-mlperf-validation"

    def __init__(self, data_dir: Path, cache_root: Path) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        self.is_demo = (data_dir / DEMO_MARKER).exists()
        if self.is_demo:
            self.name = "openimages-format demo set"
        self.annotation_file = data_dir / ANNOTATIONS
        self.image_dir = data_dir / IMAGES_DIR
        images = read_image_list(self.annotation_file)
        self.files = [str(image["file_name"]) for image in images]
        self.image_ids = np.array([int(image["id"]) for image in images], dtype=np.int64)
        # (height, width) of the original images: records are normalised to them.
        self.sizes = np.array([(int(image["height"]), int(image["width"])) for image in images], dtype=np.int64)
        missing = [name for name in self.files if not (self.image_dir / name).is_file()]
        if missing:
            raise HarnessError(
                f"{len(missing)} of {len(self.files)} images listed in {self.annotation_file} are missing, "
                f"e.g. {self.image_dir / missing[0]}",
                "finish the download (scripts/prepare_openimages.py); the QSL index of every image is its "
                "position in the annotation file, so none may be skipped")
        key = fingerprint(preprocess.PREPROCESS_VERSION, self.image_dir, self.annotation_file, self.files)
        self.cache_dir = cache_root / f"openimages-{len(self.files)}-{key}"
        size = preprocess.IMAGE_SIZE
        self._images = open_image_cache(
            self.cache_dir, "images_u8_nchw", self.image_dir, self.files, (3, size, size),
            preprocess.preprocess_file, preprocess.PREPROCESS_VERSION,
            "re-download that file (scripts/prepare_openimages.py)")

