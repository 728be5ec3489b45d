"""Fetch the raw KiTS19 cases the way MLCommons' 3D-UNet reference documents it (its Makefile target
download_kits19_and_duplicate):

  1. git clone https://github.com/neheller/kits19 (the segmentations come with the repository);
  2. python -m starter_code.get_imaging inside it (downloads every case's imaging.nii.gz, ~27 GB; the
     KiTS starter code needs requests, tqdm and nibabel);
  3. copy case_00185 to case_00400 (MLPerf's 43rd inference case is that duplicate).

  python scripts/fetch_kits19.py [--repo-dir DIR] [--dest DIR]

The clone goes to $MLPERF_DATA_DIR/kits19-repo (default data/kits19-repo) and $MLPERF_DATA_DIR/kits19 is
made a link to its data/ folder, where `python -m harness run --model 3d-unet` looks. Then run
scripts/prepare_kits19.py once to preprocess and verify the 43 cases.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import data_root  # noqa: E402

KITS19_REPO = "https://github.com/neheller/kits19"
SOURCE_CASE = "case_00185"
DUPLICATE_CASE = "case_00400"
STARTER_NEEDS = ("requests", "tqdm", "nibabel", "numpy")


def clone(url: str, repo_dir: Path) -> None:
    if (repo_dir / ".git").is_dir():
        print(f"{repo_dir} is already a clone; using it", file=sys.stderr)
        return
    if repo_dir.exists() and any(repo_dir.iterdir()):
        raise SystemExit(f"error: {repo_dir} exists and is not a git clone; move it away or pass --repo-dir")
    repo_dir.parent.mkdir(parents=True, exist_ok=True)
    print(f"cloning {url} into {repo_dir}", file=sys.stderr, flush=True)
    subprocess.run(["git", "clone", url, str(repo_dir)], check=True)


def get_imaging(repo_dir: Path) -> None:
    missing = [name for name in STARTER_NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"error: the KiTS19 starter code needs {', '.join(missing)}: "
                         f"pip install {' '.join(missing)} (or pip install -r {repo_dir / 'requirements.txt'})")
    print("downloading the imaging (python -m starter_code.get_imaging; ~27 GB, resumable: rerun to continue)",
          file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "starter_code.get_imaging"], cwd=repo_dir, check=True)


def duplicate_case(data_dir: Path) -> None:
    source, copy = data_dir / SOURCE_CASE, data_dir / DUPLICATE_CASE
    if not (source / "imaging.nii.gz").is_file():
        raise SystemExit(f"error: {source}/imaging.nii.gz not found: the download did not finish; rerun")
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(source, copy)
    print(f"copied {SOURCE_CASE} to {copy}", file=sys.stderr)


def link_dest(data_dir: Path, dest: Path) -> None:
    if dest.resolve() == data_dir.resolve():
        return
    if dest.is_symlink():
        dest.unlink()
    elif dest.exists():
        raise SystemExit(f"error: {dest} exists; remove it or pass --dest elsewhere (the cases are in {data_dir})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(data_dir.resolve(), dest, target_is_directory=True)
    print(f"{dest} -> {data_dir}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo-dir", type=Path, default=None, help="where to clone neheller/kits19")
    parser.add_argument("--dest", type=Path, default=None,
                        help="the folder runs read (default: $MLPERF_DATA_DIR/kits19)")
    parser.add_argument("--repo-url", default=KITS19_REPO, help="the KiTS19 repository (a mirror)")
    args = parser.parse_args(argv)
    repo_dir = args.repo_dir or data_root() / "kits19-repo"
    dest = args.dest or data_root() / "kits19"
    try:
        clone(args.repo_url, repo_dir)
        get_imaging(repo_dir)
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))} failed (exit {exc.returncode}); rerun to resume",
              file=sys.stderr)
        return 1
    duplicate_case(repo_dir / "data")
    link_dest(repo_dir / "data", dest)
    print(f"KiTS19 cases in {dest}; next: python scripts/prepare_kits19.py --data-dir {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
