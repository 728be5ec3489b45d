"""`python -m harness history import DIR` backfills the history store from run folders; `history series`
lists what it holds. Importing the same run again is a no-op; a half-written run folder is named with
the reason and skipped (exit 2), and every other run is stored."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from harness.errors import HarnessError
from harness.results.history.rows import RunRow
from harness.results.history.store import RUN_FOLDERS, STORE_ENV, open_store
from harness.results.record import RECORD_NAME


def _parser() -> argparse.ArgumentParser:
    import os

    p = argparse.ArgumentParser(prog="python -m harness history", description=__doc__)
    sub = p.add_subparsers(dest="action", required=True)
    for name, text in (("import", "store every run folder under DIR (a results tree, a runs/ folder or one run)"),
                       ("series", "list the series in the store, with their latest runs")):
        q = sub.add_parser(name, help=text, description=text)
        if name == "import":
            q.add_argument("dir", type=Path, metavar="DIR")
            q.add_argument("--box", default=platform.node(),
                           help="the box these runs were made on (default: this host's name)")
        q.add_argument("--store", default=os.environ.get(STORE_ENV),
                       help=f"database URL (default ${STORE_ENV}, else SQLite in --results-dir)")
        q.add_argument("--results-dir", type=Path, default=Path("results"),
                       help="where the default SQLite store lives (results/history.sqlite)")
    return p


def run_folders(root: Path) -> list[Path]:
    """One run (DIR/run.json), a runs/ folder, or a results tree, whichever DIR is."""
    if not root.is_dir():
        raise HarnessError(f"{root} is not a folder", "give a results folder, e.g. results")
    if (root / RECORD_NAME).is_file():
        return [root]
    tree = sorted(p for p in root.glob(RUN_FOLDERS) if p.is_dir())
    if tree:
        return tree
    if root.name == "runs":
        return sorted(p for p in root.iterdir() if p.is_dir())
    raise HarnessError(f"no run folders under {root}",
                       "expected results/<system>/<benchmark>/<Scenario>/runs/<run id>/ folders")


def _import(args: argparse.Namespace) -> int:
    folders = run_folders(args.dir)
    store = open_store(args.store, args.results_dir)
    try:
        report = store.import_folders(folders, args.box)
        total = store.count()
    finally:
        store.close()
    print(f"{store.url}: {len(report.added)} run(s) imported, {len(report.already)} already stored, "
          f"{len(report.bad)} skipped; {total} in the store")
    for bad in report.bad:
        print(f"error: skipped {bad.run_dir}: {bad.why}")
    if report.bad:
        print("  fix: let those runs finish, or delete their folders if they were killed; the other runs are stored")
    return 2 if report.bad else 0


def _describe(row: RunRow) -> str:
    if row.mode == "accuracy":
        value = f"{row.accuracy_metric} {row.accuracy:.6g}" if row.accuracy is not None else row.status
    else:
        value = f"{row.headline:,.6g} {row.headline_unit}" if row.headline is not None else row.status
        value += "" if row.valid is None else (" VALID" if row.valid else " INVALID")
    return f"{row.run_id} {value}"


def _series(args: argparse.Namespace) -> int:
    store = open_store(args.store, args.results_dir)
    try:
        names = store.series()
        print(f"{store.url}: {len(names)} series, {store.count()} runs")
        for name in names:
            rows = store.series_rows(name)
            print(f"  {rows[-1].key.label}: {len(rows)} run(s), latest {_describe(rows[-1])}")
    finally:
        store.close()
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return _import(args) if args.action == "import" else _series(args)
