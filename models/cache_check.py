"""Manifests of cached arrays (the preprocessed images, BERT's features): each file's size and a checksum,
written last, checked cheaply on every open.

The checksum covers evenly spaced blocks of the file (all of a small file), so opening a multi-GB cache
reads a few MiB. A file that is missing, of another size (truncated, emptied) or whose sampled bytes
changed (zeroed) is damaged: the caller rebuilds that cache entry and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

BLOCK_BYTES = 64 * 1024
BLOCKS = 64


def sampled_sha256(path: Path) -> str:
    """sha256 of BLOCKS evenly spaced blocks of BLOCK_BYTES (the whole file when it is smaller than that)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= BLOCK_BYTES * BLOCKS:
            digest.update(handle.read())
        else:
            last = size - BLOCK_BYTES
            for k in range(BLOCKS):
                handle.seek(last * k // (BLOCKS - 1))
                digest.update(handle.read(BLOCK_BYTES))
    return digest.hexdigest()


def manifest(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """name -> {size, sampled_sha256} of files just written."""
    return {p.name: {"size": p.stat().st_size, "sampled_sha256": sampled_sha256(p)} for p in paths}


def damage(folder: Path, files: Any) -> str | None:
    """Why the files a manifest lists are not as written, or None when they are."""
    if not isinstance(files, dict) or not files:
        return "it has no manifest of its files"
    for name, entry in files.items():
        path = folder / str(name)
        if not isinstance(entry, dict):
            return f"its manifest entry for {name} is unreadable"
        try:
            size = path.stat().st_size
        except OSError:
            return f"{path} is missing"
        written = entry.get("size")
        if not isinstance(written, int):
            return f"its manifest entry for {name} has no size"
        if size != written:
            return f"{path} is {size:,} bytes, {written:,} when it was written (truncated or emptied?)"
        try:
            if sampled_sha256(path) != entry.get("sampled_sha256"):
                return f"{path} changed since it was written (its checksum differs)"
        except OSError as exc:
            return f"{path} cannot be read ({exc.strerror or exc})"
    return None


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """meta.json, atomically (readers see the old one or the whole new one)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path)


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None
