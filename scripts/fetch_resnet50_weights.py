"""Fetch the MLPerf ResNet50 v1.5 weights into $MLPERF_DATA_DIR/models (default: data/models).

  python scripts/fetch_resnet50_weights.py            # PyTorch weights (torch backend; exported for others)
  python scripts/fetch_resnet50_weights.py --onnx     # also the official ONNX model (onnxruntime, tensorrt)

The harness finds them there by name; or pass --weights FILE to `python -m harness run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import data_root, fetch_all  # noqa: E402

# URLs and md5 sums as published for the MLPerf reference (zenodo records 4588417 and 4735647).
FILES = {
    "torch": ("https://zenodo.org/record/4588417/files/resnet50-19c8e357.pth", "resnet50-19c8e357.pth",
              "9e9c86b324d80e65229fab49b8d9a8e8"),
    "onnx": ("https://zenodo.org/record/4735647/files/resnet50_v1.onnx", "resnet50_v1.onnx",
             "f6a4da60cd5f084d97efc2c1ddb10beb"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: $MLPERF_DATA_DIR/models)")
    parser.add_argument("--onnx", action="store_true", help="also fetch the official ONNX model")
    parser.add_argument("--only-onnx", action="store_true", help="fetch only the ONNX model")
    parser.add_argument("--base-url", help="mirror to fetch from instead of zenodo (same file names)")
    args = parser.parse_args(argv)
    dest = args.dest or data_root() / "models"
    kinds = ["onnx"] if args.only_onnx else (["torch", "onnx"] if args.onnx else ["torch"])
    return fetch_all(FILES, kinds, dest, args.base_url)

if __name__ == "__main__":
    raise SystemExit(main())
