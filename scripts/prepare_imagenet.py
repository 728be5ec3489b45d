"""Prepare ImageNet 2012 validation for the harness: 50,000 JPEGs plus val_map.txt in one folder.

ImageNet needs a (free) account: download ILSVRC2012_img_val.tar (6.3 GB) from https://image-net.org/
yourself, then:

  python scripts/prepare_imagenet.py --val-tar /path/to/ILSVRC2012_img_val.tar

The labels (val.txt in Caffe's ilsvrc12 auxiliary archive, the val_map.txt MLPerf uses) are downloaded;
pass --labels PATH to use a local copy (caffe_ilsvrc12.tar.gz or a val.txt). The result goes to
$MLPERF_DATA_DIR/imagenet (default data/imagenet), where `python -m harness run --model resnet50` finds it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import DownloadError, data_root, download, file_digest  # noqa: E402

VAL_TAR_MD5 = "29b22e2961454d5413ddabcf34fc5622"  # ILSVRC2012_img_val.tar as published
LABELS_URL = "http://dl.caffe.berkeleyvision.org/caffe_ilsvrc12.tar.gz"
VAL_COUNT = 50000


def read_labels(source: Path) -> str:
    """val.txt text from a caffe_ilsvrc12 archive or a plain val.txt / val_map.txt."""
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            member = next((m for m in archive.getmembers() if Path(m.name).name == "val.txt"), None)
            if member is None:
                raise SystemExit(f"error: {source} has no val.txt")
            handle = archive.extractfile(member)
            assert handle is not None
            return handle.read().decode()
    return source.read_text()


def extract_images(val_tar: Path, dest: Path) -> int:
    count = 0
    with tarfile.open(val_tar) as archive:
        for member in archive:
            name = Path(member.name).name
            if not member.isfile() or not name.upper().endswith(".JPEG"):
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            with open(dest / name, "wb") as out:
                shutil.copyfileobj(handle, out)
            count += 1
            if count % 5000 == 0:
                print(f"  {count} images", file=sys.stderr, flush=True)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--val-tar", type=Path, required=True, help="ILSVRC2012_img_val.tar from image-net.org")
    parser.add_argument("--labels", help="caffe_ilsvrc12.tar.gz or val.txt (path or URL; default: download)")
    parser.add_argument("--dest", type=Path, help="output folder (default: $MLPERF_DATA_DIR/imagenet)")
    parser.add_argument("--skip-md5", action="store_true", help="do not verify the tarball's md5")
    parser.add_argument("--expect", type=int, default=VAL_COUNT, help="number of images expected")
    args = parser.parse_args(argv)
    dest = args.dest or data_root() / "imagenet"
    if not args.val_tar.is_file():
        print(f"error: {args.val_tar} not found: download ILSVRC2012_img_val.tar from https://image-net.org/ "
              "(free account) and pass its path", file=sys.stderr)
        return 2
    if not args.skip_md5 and file_digest(args.val_tar) != VAL_TAR_MD5:
        print(f"error: {args.val_tar} md5 differs from the published {VAL_TAR_MD5} (incomplete download?); "
              "re-download it, or pass --skip-md5 for a subset you made yourself", file=sys.stderr)
        return 2
    labels_arg = args.labels or LABELS_URL
    try:
        if "://" in labels_arg:
            labels_path = download(labels_arg, dest.parent / ".downloads" / Path(labels_arg).name)
        else:
            labels_path = Path(labels_arg)
        labels = read_labels(labels_path)
    except (DownloadError, OSError) as exc:
        print(f"error: {exc}; pass --labels with a local caffe_ilsvrc12.tar.gz or val.txt", file=sys.stderr)
        return 1
    staging = dest.with_name(dest.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    count = extract_images(args.val_tar, staging)
    listed = [line.split()[0] for line in labels.splitlines() if line.strip()]
    missing = [name for name in listed if not (staging / name).is_file()]
    if count != args.expect or missing:
        print(f"error: extracted {count} images (expected {args.expect}); {len(missing)} labelled images missing",
              file=sys.stderr)
        shutil.rmtree(staging)
        return 1
    (staging / "val_map.txt").write_text(labels if labels.endswith("\n") else labels + "\n")
    if dest.exists():
        print(f"error: {dest} already exists; remove it first (nothing was changed)", file=sys.stderr)
        shutil.rmtree(staging)
        return 1
    os.replace(staging, dest)
    print(f"ImageNet validation ready in {dest} ({count} images)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
