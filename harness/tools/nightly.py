"""`python -m harness nightly --matrix configs/nightly/<box>.yaml`: run a box's matrix, store every run in
the history store, judge each cell against its series, re-run suspects once, and write the night's report.

Each cell runs in its own process (harness.tools.child.run_child); Server cells at the matrix's or the
system config's fixed target QPS. A cell that fails or goes INVALID does not stop the others. Exit code:
0 when nothing regressed, 1 when a cell regressed or failed (after its re-run), 2 for bad input (an
unknown model, scenario or knob in the matrix, an unreachable store): cron or CI can alert on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.matrix import Cell, Matrix, load_matrix
from harness.results.history.rows import BadRunFolder
from harness.results.history.store import STORE_ENV, HistoryStore, open_store
from harness.results.nightly.report import ALERTS, FAILED, RECOVERED, AttemptView, CellOutcome, NightInfo, write_report
from harness.results.record import STATUS_COMPLETE, now_iso
from harness.results.regression.assess import Assessment, assess
from harness.results.regression.detect import REGRESSED
from harness.tools.child import run_child


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness nightly", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--matrix", required=True, type=Path, help="configs/nightly/<box>.yaml (or just <box>)")
    p.add_argument("--results-dir", type=Path, default=Path("results"),
                   help="where runs and results/nightly/<date>/ are written (default results)")
    p.add_argument("--store", default=os.environ.get(STORE_ENV),
                   help=f"history database URL, e.g. postgresql://user@host/mlperf (default ${STORE_ENV}, "
                        "else SQLite in the results folder)")
    p.add_argument("--box", help="this box's name in the store (default: the matrix's box, else the host name)")
    p.add_argument("--night", help="the night's date, YYYY-MM-DD (default today)")
    p.add_argument("--only", action="append", default=[], metavar="CELL", help="run only these cells (repeatable)")
    p.add_argument("--no-rerun", action="store_true", help="report suspected regressions without re-running them")
    p.add_argument("--check", action="store_true", help="check the matrix and list its cells; run nothing")
    return p


def _night(text: str | None) -> str:
    if text is None:
        return date.today().isoformat()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise HarnessError(f"--night {text!r} is not a date", "use YYYY-MM-DD") from None


def _suspect(assessment: Assessment | None) -> bool:
    return assessment is None or assessment.verdict == REGRESSED


def _attempt(matrix: Matrix, cell: Cell, number: int, store: HistoryStore, results_dir: Path, night_id: int,
             state: dict[str, Any]) -> tuple[AttemptView, Assessment | None, str | None]:
    """One run of a cell, stored and judged: (what ran, its assessment, why it failed)."""
    print(f"-- {cell.name}{' (re-run)' if number > 1 else ''}", flush=True)
    try:
        child = run_child(cell.run_args(matrix.system), results_dir, timeout_s=cell.timeout_s)
    except subprocess.TimeoutExpired:
        why = f"timed out after {cell.timeout_s:g} s"
        return AttemptView(number, None, None, "timed out", None, FAILED, why), None, why
    run_dir = child.run_dir
    run_id = run_dir.name if run_dir is not None else None
    if run_dir is None:
        why = f"exit {child.returncode} before a run folder existed: {child.tail(4)}"
        return AttemptView(number, None, None, "no run", child.returncode, FAILED, why), None, why
    report = store.import_folders([run_dir], matrix.box, night_id, cell.name, number)
    if report.bad:
        bad: BadRunFolder = report.bad[0]
        why = f"exit {child.returncode}; {bad.why}"
        return AttemptView(number, run_id, run_dir, "half-written", child.returncode, FAILED, why), None, why
    row = (report.added + report.already)[0]
    if row.status != STATUS_COMPLETE:
        error = (row.record.get("error") or child.tail(3)).strip()
        why = f"run {row.status} (exit {child.returncode}): {error}"
        return AttemptView(number, run_id, run_dir, row.status, child.returncode, FAILED, why), None, why
    assessment = assess(store, row, matrix.settings, state)
    verdict = assessment.verdict
    note = "; ".join(assessment.problems)
    print(f"   {verdict}{': ' + note if note else ''}", flush=True)
    return AttemptView(number, run_id, run_dir, row.status, child.returncode, verdict, note), assessment, None


def run_cell(matrix: Matrix, cell: Cell, store: HistoryStore, results_dir: Path, night_id: int,
             state: dict[str, Any], rerun: bool = True) -> CellOutcome:
    """Run a cell; a suspected regression or a failure is run once more, and only a second bad run counts."""
    outcome = CellOutcome(cell.name, cell.model, cell.scenario, cell.mode, cell.backend)
    first, assessment, failure = _attempt(matrix, cell, 1, store, results_dir, night_id, state)
    outcome.attempts.append(first)
    verdict = None
    if rerun and _suspect(assessment):
        second, again, failure = _attempt(matrix, cell, 2, store, results_dir, night_id, state)
        outcome.attempts.append(second)
        outcome.first = assessment
        if not _suspect(again):
            verdict = RECOVERED  # bad once, fine on the re-run: shown, not alerted
        assessment = again if again is not None else assessment
    outcome.assessment, outcome.failure = assessment, failure
    outcome.verdict = verdict or (FAILED if failure or assessment is None else assessment.verdict)
    return outcome


def _print_summary(summary: dict[str, Any], page: Path) -> None:
    print(f"== nightly {summary['night']} on {summary['box']}: " +
          ", ".join(f"{n} {v}" for v, n in sorted(summary["verdicts"].items())))
    for cell in summary["cells"]:
        changes = [f"{m['label']} {m['change_pct']:+.1f}%" for m in cell["metrics"] if m["change_pct"] is not None]
        print(f"   {cell['verdict']:>9s}  {cell['name']}  {', '.join(changes)}"
              + (" (re-run)" if cell["rerun"] else ""))
        for problem in cell["problems"] if cell["verdict"] in ALERTS else []:
            print(f"              {problem}")
        if cell["verdict"] in ALERTS and cell["changes"]:
            print(f"              changed since the baseline: {', '.join(cell['changes'])}")
    print(f"== report: {page}")


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    night = _night(args.night)
    if args.check:
        matrix = load_matrix(args.matrix, args.box)
        print(f"{matrix.path}: {len(matrix.cells)} cells for box {matrix.box}, system {matrix.system}")
        for cell in matrix.cells:
            print(f"  {cell.name}: {' '.join(cell.run_args(matrix.system))}")
        return 0
    from harness.machine.host import detect_host
    from harness.machine.state import change_text, changes, machine_state

    matrix = load_matrix(args.matrix, args.box, detect_host())
    unknown = sorted(set(args.only) - {c.name for c in matrix.cells})
    if unknown:
        raise HarnessError(f"--only: no cell named {', '.join(unknown)} in {matrix.path}",
                           "cells: " + ", ".join(c.name for c in matrix.cells))
    cells = [c for c in matrix.cells if not args.only or c.name in args.only]
    results_dir = args.results_dir
    store = open_store(args.store, results_dir)
    try:
        state = machine_state()
        started = now_iso()
        night_id = store.add_night(matrix.box, night, str(matrix.path), state, started)
        previous = store.previous_night(matrix.box, night_id)
        print(f"== nightly {night} on {matrix.box}: {len(cells)} cells of {matrix.path}, store {store.url}",
              flush=True)
        outcomes = [run_cell(matrix, cell, store, results_dir, night_id, state, rerun=not args.no_rerun)
                    for cell in cells]
        info = NightInfo(night, matrix.box, str(matrix.path), store.url, night_id, started, state,
                         [change_text(c) for c in changes(previous["machine_state"], state)] if previous else [],
                         previous["night"] if previous else None, matrix.settings)
        page, _, summary = write_report(results_dir / "nightly" / night, info, outcomes, store, results_dir)
        store.finish_night(night_id, summary["exit_code"], {k: v for k, v in summary.items() if k != "cells"})
        _print_summary(summary, page)
        return int(summary["exit_code"])
    finally:
        store.close()

