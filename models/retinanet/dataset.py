"""The MLPerf OpenImages validation subset in the layout MLCommons' download script leaves:

    <dir>/annotations/openimages-mlperf.json   COCO format: images, annotations, 264 categories
    <dir>/validation/data/<image id>.jpg

QSL index i is the i-th entry of the JSON's ``images`` list (the accuracy script maps
records back the same way). The first open preprocesses every image once into a uint8
cache, one .npy of shape (N, 3, 800, 800); later opens memory-map it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from models.base import Dataset
from models.retinanet import preprocess

ANNOTATIONS = Path("annotations") / "openimages-mlperf.json"
IMAGES_DIR = Path("validation") / "data"
DEMO_MARKER = "DEMO_DATA.txt"
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


def _fingerprint(annotation_file: Path, image_dir: Path, files: list[str]) -> str:
    digest = hashlib.sha256(preprocess.PREPROCESS_VERSION.encode())
    digest.update(annotation_file.read_bytes())
    total_size = 0
    newest = 0
    for name in files:
        stat = (image_dir / name).stat()
        total_size += stat.st_size
        newest = max(newest, stat.st_mtime_ns)
    digest.update(f"{total_size}:{newest}".encode())
    return digest.hexdigest()[:16]


class OpenImagesDataset(Dataset):
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
        key = _fingerprint(self.annotation_file, self.image_dir, self.files)
        self.cache_dir = cache_root / f"openimages-{len(self.files)}-{key}"
        self._images = self._open_cache()

    @property
    def total_count(self) -> int:
        return len(self.files)

    def sample_ids(self) -> list[str]:
        return self.files

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        order = np.asarray(indices, dtype=np.int64)
        return {"images": np.ascontiguousarray(self._images[order])}

    # -- cache --------------------------------------------------------------
    def _open_cache(self) -> np.ndarray:
        array_path = self.cache_dir / "images_u8_nchw.npy"
        meta_path = self.cache_dir / "meta.json"
        if meta_path.is_file() and array_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta.get("count") == len(self.files) and meta.get("complete"):
                return np.load(array_path, mmap_mode="r")
        self._build_cache(array_path, meta_path)
        return np.load(array_path, mmap_mode="r")

    def _build_cache(self, array_path: Path, meta_path: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = array_path.with_name(f"images_u8_nchw.{os.getpid()}.partial.npy")
        size = preprocess.IMAGE_SIZE
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(len(self.files), 3, size, size))
        started = time.monotonic()
        print(f"preprocessing {len(self.files)} images from {self.image_dir} into {self.cache_dir} "
              f"(once; {len(self.files) * 3 * size * size / 1e9:.1f} GB; later runs reuse it)",
              file=sys.stderr, flush=True)

        def work(i: int, out: np.ndarray = out) -> None:
            path = self.image_dir / self.files[i]
            try:
                out[i] = preprocess.preprocess_file(str(path))
            except ValueError as exc:
                raise HarnessError(f"cannot read image {path}: {exc}",
                                   "re-download that file (scripts/prepare_openimages.py)") from None

        workers = max(1, min(16, os.cpu_count() or 1))
        try:
            with ThreadPoolExecutor(workers) as pool:
                for done, _ in enumerate(pool.map(work, range(len(self.files))), 1):
                    if done % 1000 == 0:
                        rate = done / max(time.monotonic() - started, 1e-9)
                        print(f"  {done}/{len(self.files)} images ({rate:.0f}/s)", file=sys.stderr, flush=True)
            out.flush()
        except BaseException:
            del work, out
            partial.unlink(missing_ok=True)
            raise
        del work, out
        os.replace(partial, array_path)
        meta = {"count": len(self.files), "complete": True, "version": preprocess.PREPROCESS_VERSION,
                "source": str(self.data_dir)}
        meta_path.write_text(json.dumps(meta, indent=1))
