"""ImageNet 2012 validation in its usual form: a folder of JPEGs plus val_map.txt.

The first open preprocesses every listed image once into a uint8 cache
(one .npy of shape (N, 3, 224, 224), models/image_cache.py); later opens memory-map it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER
from harness.errors import HarnessError
from models.image_cache import CachedImageDataset, fingerprint, open_image_cache
from models.resnet50 import preprocess


def read_val_map(path: Path) -> tuple[list[str], np.ndarray]:
    """Parse val_map.txt ("<file> <label>" per line) into file names and int32 labels."""
    files: list[str] = []
    labels: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise HarnessError(
                    f"{path}:{line_no}: expected '<image file> <label>', got {line.strip()!r}",
                    "val_map.txt must list one image and its integer class per line",
                )
            files.append(fields[0])
            labels.append(int(fields[1]))
    if not files:
        raise HarnessError(f"{path} lists no images", "regenerate val_map.txt for the dataset")
    return files, np.asarray(labels, dtype=np.int32)


class ImageNetDataset(CachedImageDataset):
    input_name = "input"
    name = "imagenet2012-val"

    def __init__(self, data_dir: Path, cache_root: Path) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        self.is_demo = (data_dir / DEMO_MARKER).exists()
        if self.is_demo:
            self.name = "imagenet-format demo set"
        val_map = data_dir / "val_map.txt"
        if not val_map.is_file():
            raise HarnessError(
                f"no val_map.txt in {data_dir}",
                "point --data-dir at the ImageNet validation folder (JPEGs + val_map.txt); "
                "python scripts/prepare_imagenet.py makes one",
            )
        self.files, self.labels = read_val_map(val_map)
        missing = [name for name in self.files if not (data_dir / name).is_file()]
        if missing:
            raise HarnessError(
                f"{len(missing)} of {len(self.files)} images listed in {val_map} are missing, "
                f"e.g. {data_dir / missing[0]}",
                "finish the download (python scripts/prepare_imagenet.py) or remove those lines",
            )
        key = fingerprint(preprocess.PREPROCESS_VERSION, data_dir, val_map, self.files)
        self.cache_dir = cache_root / f"imagenet-{len(self.files)}-{key}"
        size = preprocess.OUTPUT_SIZE
        self._images = open_image_cache(
            self.cache_dir, "crops_u8_nchw", data_dir, self.files, (3, size, size), preprocess.preprocess_file,
            preprocess.PREPROCESS_VERSION, "re-download that file, or remove its line from val_map.txt")

