"""Preprocess the KiTS19 inference cases once, and check them against MLPerf's checksums.

  python scripts/prepare_kits19.py [--data-dir DIR] [--cache-dir DIR] [--workers N] [--no-verify]

Reads the 43 cases of models/unet3d/meta/inference_cases.json from DIR (default $MLPERF_DATA_DIR/kits19,
which scripts/fetch_kits19.py fills), resamples and pads them exactly as the reference's preprocess.py
(models/unet3d/preprocess.py), checks each against meta/checksum_inference.json, and stores them where
`python -m harness run --model 3d-unet` finds them (build/cache/preprocessed/3d-unet). A run does the
same on first use; this script only does it ahead of time, in parallel, and prints what it found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.errors import HarnessError  # noqa: E402
from harness.spec import RunSpec  # noqa: E402
from models.unet3d import Unet3D  # noqa: E402
from models.unet3d.dataset import KitsDataset  # noqa: E402
from models.unet3d.window import window_starts  # noqa: E402
from scripts.download import data_root  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None, help="KiTS19 case folders (default: "
                                                                    "$MLPERF_DATA_DIR/kits19)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="the harness cache (default: the one runs use, build/cache)")
    parser.add_argument("--workers", type=int, default=None, help="processes preprocessing cases at once")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the checksum check (runs then need the model option verify_checksums: false)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or data_root() / "kits19"
    # Where runs look: the run's preprocessed folder / the model's name.
    spec = RunSpec(Unet3D.name, "offline") if args.cache_dir is None else RunSpec(Unet3D.name, "offline",
                                                                                  cache_dir=args.cache_dir)
    cache_root = spec.preprocessed_dir / Unet3D.name
    started = time.monotonic()
    try:
        dataset = KitsDataset(data_dir, cache_root, verify_checksums=not args.no_verify, workers=args.workers)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    windows = [len(window_starts(shape[1:])) for shape in dataset.shapes]
    for case, shape, count in zip(dataset.cases, dataset.shapes, windows):
        print(f"{case}  {'x'.join(map(str, shape[1:])):>12}  {count:4d} windows")
    checked = "checked against the reference's md5s" if not args.no_verify else "NOT checked against checksums"
    print(f"{dataset.total_count} cases ({sum(windows)} windows of 128^3) in {dataset.cache_dir}, {checked} "
          f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
