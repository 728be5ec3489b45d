"""`python -m harness report` (results pages) and `python -m harness system` (the systems description)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError


def _report(args: argparse.Namespace) -> int:
    from harness.results.pages import render_results, render_submission

    if args.submission_dir is not None:
        if not args.submitter or not args.system:
            raise HarnessError("--submission-dir needs --submitter ORG and --system NAME",
                               "e.g. report --submission-dir DIR --submitter Dell --system R760_H100_PCIe_80GBx2_TRT")
        page = render_submission(args.submission_dir, args.submitter, args.system, args.out,
                                 args.rules_given or "v4.1", args.division)
        print(f"wrote {page}")
        return 0
    if args.out is not None or args.submitter:
        raise HarnessError("--out and --submitter apply to --submission-dir only",
                           "pages of this harness's runs are written under --results-dir")
    written = render_results(args.results_dir, _systems_dir(args), args.system, args.rules_given)
    summaries = [p for p in written if p.name == "summary.html"]
    print(f"wrote {len(written) - len(summaries) - 1} run page(s), {len(summaries)} summary page(s):")
    for page in summaries + [written[-1]]:
        print(f"  {page}")
    return 0


def _systems_dir(args: argparse.Namespace) -> Path:
    from harness.machine.description import systems_dir_for

    return args.systems_dir if args.systems_dir is not None else systems_dir_for(args.results_dir)


def _system(args: argparse.Namespace) -> int:
    from harness.machine import description as sysdesc

    name = args.name
    if name is None:
        from harness.machine.host import detect_host
        from harness.system_configs import match_system

        name = match_system(detect_host()).name
    update = sysdesc.ensure(_systems_dir(args), name, write=not args.check)
    if args.check:
        print(f"{update.path}: " + ("would be created" if update.created else "exists"))
    else:
        print("\n".join(update.summary()))
    problems = sysdesc.check(update.data)
    for line in problems.lines():
        print(f"  still needed for the submission checker: {line}")
    if problems:
        print(f"  edit {update.path}: your values are kept when the machine is detected again")
    return 0


def report(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m harness report",
                                description="render results pages: summary.html per system, run pages, index")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="this harness's results")
    p.add_argument("--system", help="only this system (default: every system with runs)")
    p.add_argument("--systems-dir", type=Path,
                   help="systems/<name>.json files (default: $HARNESS_SYSTEMS_DIR, else <results-dir>/systems)")
    p.add_argument("--rules", dest="rules_given", default=None, help="MLPerf round (default: the runs' round)")
    p.add_argument("--submission-dir", type=Path, help="render an MLPerf submission tree instead")
    p.add_argument("--submitter", help="submitter (organisation) in the submission tree")
    p.add_argument("--division", choices=("closed", "open", "network"), help="default: where it is found")
    p.add_argument("--out", type=Path, help="page path (default: <tree>/<division>/<org>/results/<system>/)")
    return _report(p.parse_args(argv))


def system(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m harness system",
                                description="detect this machine and write systems/<name>.json (keeps your edits)")
    p.add_argument("--name", help="system name (default: the SYSTEM=auto match for this machine)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="the results the file belongs to")
    p.add_argument("--systems-dir", type=Path,
                   help="where the files live (default: $HARNESS_SYSTEMS_DIR, else <results-dir>/systems)")
    p.add_argument("--check", action="store_true", help="detect and list what is missing; write nothing")
    return _system(p.parse_args(argv))
