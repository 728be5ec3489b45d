"""Fetch MLPerf's BERT-Large SQuAD weights into $MLPERF_DATA_DIR/models/bert (default: data/models/bert).

  python scripts/fetch_bert_weights.py           # model.pytorch, fp32 (torch backend; exported to ONNX for others)
  python scripts/fetch_bert_weights.py --onnx    # also model.onnx, fp32 (onnxruntime, tensorrt)
  python scripts/fetch_bert_weights.py --int8    # also bert_large_v1_1_fake_quant.onnx (int8 Q/DQ, for int8 engines)

The harness finds model.pytorch / model.onnx there by name; pass the int8 file with --weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import data_root, fetch_all  # noqa: E402

# URLs and md5 sums of MLPerf's reference files (zenodo records 3733896, 3733910 and 3750364).
FILES = {
    "torch": ("https://zenodo.org/record/3733896/files/model.pytorch", "model.pytorch",
              "00fbcbfaebfa20d87ac9885120a6e9b4"),
    "onnx": ("https://zenodo.org/record/3733910/files/model.onnx", "model.onnx",
             "819b25b19cd8e59080c10892689750ca"),
    "int8": ("https://zenodo.org/record/3750364/files/bert_large_v1_1_fake_quant.onnx",
             "bert_large_v1_1_fake_quant.onnx", "45f88ffb2915362242703c85c38ec2d4"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: $MLPERF_DATA_DIR/models/bert)")
    parser.add_argument("--onnx", action="store_true", help="also fetch the fp32 ONNX model")
    parser.add_argument("--int8", action="store_true", help="also fetch the int8 fake-quant ONNX model")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch weights")
    parser.add_argument("--base-url", help="mirror to fetch from instead of zenodo (same file names)")
    args = parser.parse_args(argv)
    dest = args.dest or data_root() / "models" / "bert"
    kinds = [k for k, wanted in (("torch", not args.no_torch), ("onnx", args.onnx), ("int8", args.int8)) if wanted]
    if not kinds:
        print("error: nothing to fetch (--no-torch without --onnx or --int8)", file=sys.stderr)
        return 2
    return fetch_all(FILES, kinds, dest, args.base_url)

if __name__ == "__main__":
    raise SystemExit(main())
