"""Fetch MLCommons' GPT-J 6B checkpoint (fine-tuned on CNN/DailyMail) into $MLPERF_DATA_DIR/models/gptj.

  python scripts/fetch_gptj_checkpoint.py            # -> data/models/gptj/checkpoint-final/ (about 23 GB)
  python scripts/fetch_gptj_checkpoint.py --list     # print the files and their md5 sums, fetch nothing

The reference (language/gpt-j/README.md) fetches it with MLCommons' R2 downloader from the metadata file
https://inference.mlcommons-storage.org/metadata/gpt-j-model-checkpoint.uri. That file holds the base URL
of the checkpoint's files; ``<name>.md5`` beside it lists each file with its md5 sum. This script reads both
and downloads every listed file, checked against its sum (already complete files are skipped). The harness
finds data/models/gptj/checkpoint-final by name; or pass --weights DIR.

``--metadata-url`` points at a mirror laid out the same way (a .uri file and its .md5 beside it).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import DownloadError, data_root, download  # noqa: E402

METADATA_URL = "https://inference.mlcommons-storage.org/metadata/gpt-j-model-checkpoint.uri"
CHECKPOINT_FOLDER = "checkpoint-final"


def _read(url: str, timeout_s: float = 60.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read().decode("utf-8")
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"could not read {url}: {exc}") from None


def listing(metadata_url: str) -> tuple[str, list[tuple[str, str]]]:
    """(base URL of the files, [(relative path, md5)]) from the metadata file and its .md5 list."""
    base = _read(metadata_url).strip().rstrip("/")
    if not base:
        raise DownloadError(f"{metadata_url} is empty: expected the checkpoint's base URL")
    sums_url = metadata_url.rsplit(".", 1)[0] + ".md5"
    files = []
    for line in _read(sums_url).splitlines():
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 32:
            continue
        md5, name = parts
        name = name.lstrip("*").removeprefix("./")
        if name.startswith("/") or ".." in Path(name).parts:
            raise DownloadError(f"{sums_url} lists an unsafe path {name!r}")
        files.append((name, md5))
    if not files:
        raise DownloadError(f"{sums_url} lists no files")
    return base, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: $MLPERF_DATA_DIR/models/gptj)")
    parser.add_argument("--metadata-url", default=METADATA_URL, help="the .uri metadata file (or a mirror's)")
    parser.add_argument("--list", action="store_true", help="print the files and md5 sums only")
    args = parser.parse_args(argv)
    dest = args.dest or data_root() / "models" / "gptj"
    try:
        base, files = listing(args.metadata_url)
        if args.list:
            for name, md5 in files:
                print(f"{md5}  {name}")
            return 0
        for name, md5 in files:
            download(f"{base}/{name}", dest / name, md5)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    folder = dest / CHECKPOINT_FOLDER
    if not (folder / "config.json").is_file():
        print(f"warning: no {CHECKPOINT_FOLDER}/config.json among the files: pass the folder that holds "
              "config.json with --weights", file=sys.stderr)
    print(f"GPT-J checkpoint in {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
