"""Fetch MLPerf's RetinaNet ResNeXt50-FPN PyTorch weights into $MLPERF_DATA_DIR/models (default: data/models).

  python scripts/fetch_retinanet_weights.py

resnext50_32x4d_fpn.pth is the model MLCommons' reference runs (zenodo record 6617981, mAP 0.3755);
the harness finds it there by name, or pass --weights FILE to `python -m harness run`. Every backend
uses it: onnxruntime and TensorRT get an ONNX graph exported from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import DownloadError, data_root, download, file_digest  # noqa: E402

URL = "https://zenodo.org/record/6617981/files/resnext50_32x4d_fpn.pth"
NAME = "resnext50_32x4d_fpn.pth"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: $MLPERF_DATA_DIR/models)")
    parser.add_argument("--base-url", help="mirror to fetch from instead of zenodo (same file name)")
    args = parser.parse_args(argv)
    dest = args.dest or data_root() / "models"
    url = args.base_url.rstrip("/") + "/" + NAME if args.base_url else URL
    try:
        path = download(url, dest / NAME)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{path} (sha256 {file_digest(path, 'sha256')})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
