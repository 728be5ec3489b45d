"""ImageNet 2012 validation in its usual form: a folder of JPEGs plus val_map.txt.

The first open preprocesses every listed image once into a uint8 cache
(one .npy of shape (N, 3, 224, 224)); later opens memory-map it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from models.base import Dataset
from models.resnet50 import preprocess

DEMO_MARKER = "DEMO_DATA.txt"


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


def _fingerprint(data_dir: Path, val_map: Path, files: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(preprocess.PREPROCESS_VERSION.encode())
    digest.update(str(data_dir.resolve()).encode())
    digest.update(val_map.read_bytes())
    total_size = 0
    newest = 0
    for name in files:
        stat = (data_dir / name).stat()
        total_size += stat.st_size
        newest = max(newest, stat.st_mtime_ns)
    digest.update(f"{total_size}:{newest}".encode())
    return digest.hexdigest()[:16]


class ImageNetDataset(Dataset):
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
        key = _fingerprint(data_dir, val_map, self.files)
        self.cache_dir = cache_root / f"imagenet-{len(self.files)}-{key}"
        self._crops = self._open_cache()

    @property
    def total_count(self) -> int:
        return len(self.files)

    def sample_ids(self) -> list[str]:
        return self.files

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        order = np.asarray(indices, dtype=np.int64)
        return {"input": np.ascontiguousarray(self._crops[order])}

    # -- cache --------------------------------------------------------------
    def _open_cache(self) -> np.ndarray:
        array_path = self.cache_dir / "crops_u8_nchw.npy"
        meta_path = self.cache_dir / "meta.json"
        if meta_path.is_file() and array_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta.get("count") == len(self.files) and meta.get("complete"):
                return np.load(array_path, mmap_mode="r")
        self._build_cache(array_path, meta_path)
        return np.load(array_path, mmap_mode="r")

    def _build_cache(self, array_path: Path, meta_path: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = array_path.with_suffix(".partial.npy")
        shape = (len(self.files), 3, preprocess.OUTPUT_SIZE, preprocess.OUTPUT_SIZE)
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        start = time.monotonic()
        print(f"preprocessing {len(self.files)} images from {self.data_dir} into {self.cache_dir} "
              "(once; later runs reuse it)", file=sys.stderr, flush=True)

        def work(i: int, out: np.ndarray = out) -> None:
            path = self.data_dir / self.files[i]
            try:
                out[i] = preprocess.preprocess_file(str(path))
            except ValueError as exc:
                raise HarnessError(
                    f"cannot read image {path}: {exc}",
                    "re-download that file, or remove its line from val_map.txt",
                ) from None

        workers = max(1, min(16, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            for done, _ in enumerate(pool.map(work, range(len(self.files))), 1):
                if done % 5000 == 0:
                    rate = done / max(time.monotonic() - start, 1e-9)
                    print(f"  {done}/{len(self.files)} images ({rate:.0f}/s)", file=sys.stderr, flush=True)
        out.flush()
        del work, out
        os.replace(partial, array_path)
        meta = {"count": len(self.files), "complete": True, "version": preprocess.PREPROCESS_VERSION,
                "source": str(self.data_dir)}
        meta_path.write_text(json.dumps(meta, indent=1))
