"""Fetch CNN/DailyMail 3.0.0 and write cnn_eval.json into $MLPERF_DATA_DIR/cnndm (default: data/cnndm).

  python scripts/fetch_cnndm.py                  # cnn_eval.json: the 13,368 validation articles
  python scripts/fetch_cnndm.py --calibration    # also cnn_dailymail_calibration.json (1,000 training articles)

MLCommons' download_cnndm.py loads the dataset with ``datasets.load_dataset("cnn_dailymail", "3.0.0")``,
which reads the Hugging Face Hub's parquet files; this script downloads the same files and writes what
that script writes: a JSON list, in dataset order, of ``{"instruction": "Summarize the following news
article:", "input": article, "output": highlights}`` (indent 4, non-ASCII kept). ``--calibration`` does
what prepare-calibration.py does with the ids of models/gptj/calibration/calibration-list.txt.

Reading parquet needs pyarrow (``pip install pyarrow``; the harness itself does not). ``--base-url`` points
at a mirror holding the same file names (validation-00000-of-00001.parquet, train-0000N-of-00003.parquet).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import DownloadError, data_root, download  # noqa: E402

HUB_URL = "https://huggingface.co/datasets/abisee/cnn_dailymail/resolve/main/3.0.0"
VALIDATION_FILES = ("validation-00000-of-00001.parquet",)
TRAIN_FILES = tuple(f"train-{i:05d}-of-00003.parquet" for i in range(3))
INSTRUCTION = "Summarize the following news article:"
VALIDATION_COUNT = 13368
CALIBRATION_LIST = Path(__file__).resolve().parent.parent / "models" / "gptj" / "calibration" / "calibration-list.txt"


def read_parquet(path: Path) -> list[dict[str, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DownloadError("reading the parquet files needs pyarrow: pip install pyarrow") from None
    table = pq.read_table(path, columns=["article", "highlights", "id"])
    return table.to_pylist()


def records(rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """download_cnndm.py's records: instruction, input (the article), output (the highlights)."""
    return [{"instruction": INSTRUCTION, "input": row["article"], "output": row["highlights"]} for row in rows]


def write_json(items: list[dict[str, str]], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(items, handle, indent=4, ensure_ascii=False)
    os.replace(partial, dest)


def calibration_records(train_rows: list[dict[str, str]], ids: list[str]) -> list[dict[str, str]]:
    """prepare-calibration.py: the listed training articles, in the list's order."""
    by_id = {row["id"]: row for row in train_rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DownloadError(f"{len(missing)} calibration ids are not in the training split (first: {missing[0]})")
    return records(by_id[i] for i in ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: $MLPERF_DATA_DIR/cnndm)")
    parser.add_argument("--base-url", default=HUB_URL, help="where the parquet files are (a mirror: same names)")
    parser.add_argument("--calibration", action="store_true", help="also write cnn_dailymail_calibration.json")
    args = parser.parse_args(argv)
    dest = args.dest or data_root() / "cnndm"
    base = args.base_url.rstrip("/")
    downloads = dest / "parquet"
    try:
        rows: list[dict[str, str]] = []
        for name in VALIDATION_FILES:
            rows.extend(read_parquet(download(f"{base}/{name}", downloads / name)))
        if len(rows) != VALIDATION_COUNT:
            print(f"warning: {len(rows)} validation articles, MLPerf's set has {VALIDATION_COUNT}", file=sys.stderr)
        write_json(records(rows), dest / "cnn_eval.json")
        print(f"{len(rows)} samples in {dest / 'cnn_eval.json'}", file=sys.stderr)
        if args.calibration:
            train: list[dict[str, str]] = []
            for name in TRAIN_FILES:
                train.extend(read_parquet(download(f"{base}/{name}", downloads / name)))
            ids = CALIBRATION_LIST.read_text().split()
            write_json(calibration_records(train, ids), dest / "cnn_dailymail_calibration.json")
            print(f"{len(ids)} calibration samples in {dest / 'cnn_dailymail_calibration.json'}", file=sys.stderr)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
