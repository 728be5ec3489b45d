"""Small helpers both the harness and the model folders use (a leaf module: it imports nothing of either)."""

from __future__ import annotations

import hashlib
from pathlib import Path

# The file a generated demo dataset carries at its root, so readers know it is not the real one.
DEMO_MARKER = "DEMO_DATA.txt"


def file_sha256(path: Path, limit: int | None = None) -> str:
    """sha256 of a file (of its first ``limit`` bytes when given)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        remaining = limit
        while True:
            chunk = handle.read(1 << 20 if remaining is None else min(1 << 20, remaining))
            if not chunk:
                break
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
                if remaining <= 0:
                    break
    return digest.hexdigest()


def say(text: str = "") -> None:
    """Progress for the person at the terminal (flushed, so it interleaves with child processes)."""
    print(text, flush=True)
