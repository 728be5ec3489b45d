"""`python -m harness submission --submitter ORG [--division closed]`: stage an MLPerf submission tree."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.common import say
from harness.results.record import RunRecord
from harness.rules import load_rules
from harness.tools.args import run_arguments_of_spec


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness submission",
        description="stage <out>/<division>/<ORG>/{systems,code,measurements,results,compliance} in the MLPerf "
                    "v4.1 layout from the latest complete runs of every cell")
    p.add_argument("--submitter", required=True, help="your organisation, as the tree's folder name (no spaces)")
    p.add_argument("--division", default="closed", choices=("closed", "open"), help="default: closed")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="this harness's results")
    p.add_argument("--out", type=Path, default=Path("submission"),
                   help="the tree's root (default: submission); must be new or empty unless --merge")
    p.add_argument("--system", action="append", help="only this system (repeatable; default: every system)")
    p.add_argument("--systems-dir", type=Path,
                   help="systems/<name>.json files (default: $HARNESS_SYSTEMS_DIR, else <results-dir>/systems)")
    p.add_argument("--rules", default="v4.1", help="MLPerf round of the tree (default: v4.1)")
    p.add_argument("--merge", action="store_true",
                   help="add to an existing tree: the cells, systems files and code pointers staged now replace "
                        "theirs (each one listed)")
    p.add_argument("--mlperf-conf", type=Path,
                   help="the round's mlperf.conf to copy into measurements (default: written from the rules)")
    p.add_argument("--with-failed-compliance", action="store_true",
                   help="stage cells whose compliance tests failed, with their TEST FAIL verdicts (the checker "
                        "rejects them): to try a tree out")
    return p


def main(argv: list[str]) -> int:
    from harness.results import submission_tree as tree

    args = parser().parse_args(argv)
    results_dir = args.results_dir

    def command_of(record: RunRecord) -> str:
        flags = run_arguments_of_spec(record.spec, skip=("--compliance-test",))
        return "python -m harness run " + " ".join([*flags, "--results-dir", str(results_dir)])

    if args.mlperf_conf is not None and not args.mlperf_conf.is_file():
        from harness.errors import HarnessError

        raise HarnessError(f"{args.mlperf_conf} not found", "give the round's mlperf.conf, or leave --mlperf-conf out")
    request = tree.Request(results_dir=results_dir, out=args.out, submitter=args.submitter,
                           rules=load_rules(args.rules), division=args.division, systems_dir=args.systems_dir,
                           systems=args.system, merge=args.merge, mlperf_conf=args.mlperf_conf,
                           with_failed_compliance=args.with_failed_compliance, command_of=command_of)
    report = tree.stage(request)
    root = args.out / args.division / args.submitter
    say(f"== staged {len(report.staged)} cell(s) into {root} (full accuracy logs: {report.full_logs})")
    for cell in report.staged:
        say(f"   {cell.name}")
        for warning in cell.warnings:
            say(f"      !! will not pass the checker: {warning}")
    for cell in report.refused:
        say(f"!! refused {cell.name}:")
        for problem in cell.problems:
            say(f"      {problem}")
    for item in report.missing:
        say(f"!! missing for the {args.division} division: {item} (a required scenario)")
    for note in report.notes:
        say(f"!! {note}")
    for item in report.replaced:
        say(f"   replaced {item}")
    say(f"== {report.state}: see {args.out / tree.REPORT}")
    return 0 if report.complete else 1
