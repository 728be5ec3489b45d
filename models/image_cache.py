"""The preprocessed-image cache the image models share: every listed image preprocessed once into one
uint8 .npy of shape (N, *sample_shape), memory-mapped by later runs.

The cache folder is keyed by a fingerprint of the preprocessing version, the image folder, the listing
file (val_map.txt, the annotation json) and the images' sizes and times, so a changed dataset gets a new
cache. It is built under a process-unique name and moved into place only when complete; meta.json,
written last, holds a manifest (size and checksum) checked on every open, and a damaged entry (a truncated,
emptied or zeroed .npy) is rebuilt with a message.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.errors import HarnessError
from models.base import Dataset
from models.cache_check import damage, manifest, read_meta, write_meta

# Trailing bytes allowed after a JPEG's end-of-image marker (some writers pad files).
_JPEG_TAIL_BYTES = 4096


def jpeg_cut_short(path: str) -> bool:
    """A JPEG file (it starts with the SOI marker) with no EOI marker near its end was cut short: OpenCV
    decodes it anyway, grey below the cut, with only libjpeg's "Premature end of JPEG file" warning.
    Entropy-coded data never holds the bytes FF D9, so their absence from the tail is conclusive."""
    with open(path, "rb") as handle:
        if handle.read(2) != b"\xff\xd8":
            return False
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(2, size - _JPEG_TAIL_BYTES))
        return b"\xff\xd9" not in handle.read()


def read_bgr(path: str) -> np.ndarray:
    """An image file as OpenCV reads it (BGR uint8, as the references read theirs); ValueError if unreadable."""
    import cv2

    if jpeg_cut_short(path):
        raise ValueError("the JPEG file is cut short (no end-of-image marker): the download or copy did not finish")
    image = cv2.imread(path)
    if image is None:
        raise ValueError("OpenCV could not decode it (corrupt, truncated or not an image)")
    return np.asarray(image)


def fingerprint(version: str, image_dir: Path, listing: Path, files: Sequence[str]) -> str:
    digest = hashlib.sha256(version.encode())
    digest.update(str(image_dir.resolve()).encode())
    digest.update(listing.read_bytes())
    total_size = 0
    newest = 0
    for name in files:
        stat = (image_dir / name).stat()
        total_size += stat.st_size
        newest = max(newest, stat.st_mtime_ns)
    digest.update(f"{total_size}:{newest}".encode())
    return digest.hexdigest()[:16]


def open_image_cache(cache_dir: Path, array_name: str, image_dir: Path, files: Sequence[str],
                     sample_shape: tuple[int, ...], preprocess_file: Callable[[str], np.ndarray], version: str,
                     unreadable_fix: str) -> np.ndarray:
    """The cache as a read-only memmap, built first if it is missing or incomplete.

    ``preprocess_file`` turns one image path into a uint8 array of ``sample_shape`` and raises
    ValueError for an unreadable file, which becomes a HarnessError naming it (with ``unreadable_fix``).
    """
    array_path = cache_dir / f"{array_name}.npy"
    meta_path = cache_dir / "meta.json"
    meta = read_meta(meta_path) if meta_path.is_file() else None
    if meta is not None and meta.get("count") == len(files) and meta.get("complete"):
        shape = (len(files), *sample_shape)
        if "files" not in meta:  # written before manifests: adopt it if its size is right
            meta = _adopt(meta_path, meta, array_path, shape)
        problem = damage(cache_dir, meta.get("files")) if meta is not None else "its array has the wrong size"
        if problem is None:
            try:
                images = np.load(array_path, mmap_mode="r")
                if images.shape == shape and images.dtype == np.uint8:
                    return images
                problem = f"{array_path} holds {images.dtype} {images.shape}, not uint8 {shape}"
            except (OSError, ValueError) as exc:
                problem = f"{array_path} cannot be read ({exc})"
        print(f"!! the preprocessed cache {cache_dir} is damaged: {problem}; rebuilding it", file=sys.stderr,
              flush=True)
        meta_path.unlink(missing_ok=True)
    _build(cache_dir, array_path, meta_path, image_dir, files, sample_shape, preprocess_file, version,
           unreadable_fix)
    return np.load(array_path, mmap_mode="r")


def _adopt(meta_path: Path, meta: dict[str, Any], array_path: Path, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """A cache from before manifests: kept (and given a manifest) when its .npy has the size its shape needs."""
    try:
        images = np.load(array_path, mmap_mode="r")
        whole = int(images.offset) + images.nbytes == array_path.stat().st_size
        if images.shape != shape or images.dtype != np.uint8 or not whole:
            return None
        del images
    except (OSError, ValueError, AttributeError):
        return None
    meta = {**meta, "files": manifest([array_path])}
    write_meta(meta_path, meta)
    return meta


def _build(cache_dir: Path, array_path: Path, meta_path: Path, image_dir: Path, files: Sequence[str],
           sample_shape: tuple[int, ...], preprocess_file: Callable[[str], np.ndarray], version: str,
           unreadable_fix: str) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = array_path.with_name(f"{array_path.stem}.{os.getpid()}.partial.npy")
    shape = (len(files), *sample_shape)
    out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    started = time.monotonic()
    print(f"preprocessing {len(files)} images from {image_dir} into {cache_dir} "
          f"(once; {int(np.prod(shape, dtype=np.int64)) / 1e9:.1f} GB; later runs reuse it)",
          file=sys.stderr, flush=True)

    def work(i: int, out: np.ndarray = out) -> None:
        path = image_dir / files[i]
        try:
            out[i] = preprocess_file(str(path))
        except ValueError as exc:
            raise HarnessError(f"cannot read image {path}: {exc}", unreadable_fix) from None

    workers = max(1, min(16, os.cpu_count() or 1))
    step = max(1000, len(files) // 10)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for done, _ in enumerate(pool.map(work, range(len(files))), 1):
                if done % step == 0:
                    rate = done / max(time.monotonic() - started, 1e-9)
                    print(f"  {done}/{len(files)} images ({rate:.0f}/s)", file=sys.stderr, flush=True)
        out.flush()
    except BaseException:
        del work, out
        partial.unlink(missing_ok=True)
        raise
    del work, out
    os.replace(partial, array_path)
    meta = {"count": len(files), "complete": True, "version": version, "source": str(image_dir),
            "files": manifest([array_path])}
    write_meta(meta_path, meta)  # last: the entry is whole once this exists


class CachedImageDataset(Dataset):
    """A dataset whose samples are rows of an image cache: subclasses set ``files``, ``input_name``
    and ``_images`` (from open_image_cache) in their constructor."""

    input_name: ClassVar[str] = "input"
    files: list[str]
    _images: np.ndarray

    @property
    def total_count(self) -> int:
        return len(self.files)

    def sample_ids(self) -> list[str]:
        return self.files

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        order = np.asarray(indices, dtype=np.int64)
        return {self.input_name: np.ascontiguousarray(self._images[order])}
