"""Fetch a model's published weights into $MLPERF_DATA_DIR/models (default: data/models).

  python scripts/fetch_weights.py --model resnet50          # the files runs pick up by default
  python scripts/fetch_weights.py --model resnet50 --all    # also the optional ones (official ONNX, int8 ...)
  python scripts/fetch_weights.py --model bert --kind onnx  # only these kinds
  python scripts/fetch_weights.py --list                    # every model's files

What to fetch is declared once, in the model's folder (ModelSpec.weights_files: file name, URL, md5);
the harness finds the files there by name, or pass --weights FILE to `python -m harness run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.errors import HarnessError  # noqa: E402
from models import get_model_class, model_names  # noqa: E402
from scripts.download import DownloadError, data_root, download, file_digest  # noqa: E402


def _list() -> int:
    for name in model_names():
        for w in get_model_class(name).weights_files:
            extra = " (optional)" if w.optional else ""
            print(f"{name:<12} {w.kind:<10} {w.file:<40} {w.note}{extra}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model name (any alias), e.g. resnet50, bert-99, retinanet")
    parser.add_argument("--all", action="store_true", help="also fetch the optional files")
    parser.add_argument("--kind", action="append", default=[], help="only files of this kind (repeatable)")
    parser.add_argument("--list", action="store_true", help="list every model's files and exit")
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: $MLPERF_DATA_DIR/models)")
    parser.add_argument("--base-url", help="mirror to fetch from instead of the published URLs (same file names)")
    args = parser.parse_args(argv)
    if args.list:
        return _list()
    if not args.model:
        parser.error("--model is required (or --list)")
    try:
        model = get_model_class(args.model)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = [w for w in model.weights_files
             if (w.kind in args.kind if args.kind else (args.all or not w.optional))]
    if not files:
        kinds = ", ".join(sorted({w.kind for w in model.weights_files})) or "none"
        print(f"error: nothing to fetch for {model.name} (its weights kinds: {kinds})", file=sys.stderr)
        return 2
    folders = [w for w in files if w.kind == "checkpoint"]
    if folders:  # a checkpoint folder has a fetch script of its own (its note names it)
        print(f"error: {model.name}'s {folders[0].file} is a checkpoint folder, not one file: {folders[0].note}",
              file=sys.stderr)
        return 2
    dest = args.dest or data_root() / "models"
    try:
        for w in files:
            url = args.base_url.rstrip("/") + "/" + Path(w.file).name if args.base_url else w.url
            path = download(url, dest / w.file, w.md5)
            if w.md5 is None:  # no published checksum: say what arrived
                print(f"{path} (sha256 {file_digest(path, 'sha256')})", file=sys.stderr)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(files)} file(s) for {model.name} in {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
