"""Download a file with a progress line, verify its checksum, and move it into place atomically."""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


class DownloadError(RuntimeError):
    pass


def file_digest(path: Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, md5: str | None = None, timeout_s: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` (skipped when dest exists with the right checksum)."""
    if dest.is_file() and (md5 is None or file_digest(dest) == md5):
        print(f"{dest} is already there", file=sys.stderr)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    print(f"downloading {url} -> {dest}", file=sys.stderr, flush=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, last = 0, 0.0
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
                done += len(chunk)
                if time.monotonic() - last > 2:
                    last = time.monotonic()
                    share = f" ({100 * done / total:.0f}%)" if total else ""
                    print(f"  {done / 1e6:,.0f} MB{share}", file=sys.stderr, flush=True)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"could not download {url}: {exc}") from None
    if md5 is not None:
        got = file_digest(partial)
        if got != md5:
            partial.unlink(missing_ok=True)
            raise DownloadError(f"{url}: md5 {got} does not match the published {md5}; try again")
    os.replace(partial, dest)
    return dest


def data_root() -> Path:
    root = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("MLPERF_DATA_DIR", root / "data"))
