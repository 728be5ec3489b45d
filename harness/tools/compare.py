"""`python -m harness compare`: this box's latest VALID results beside the published MLPerf results for the same
GPU model, per GPU, as a ratio; in the terminal and as a page (<results-dir>/compare/<system>/index.html, with
compare.json beside it).

  python -m harness compare                          # this machine's system (SYSTEM=auto), every round
  python -m harness compare --system l40s_x3 --round v4.1
  python -m harness compare --submission-dir DIR     # a submission tree's results against the published file

Runs that are not submission-grade (demo data, random weights, shortened runs, the null backend) are shown
but flagged as not comparable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError
from harness.results.compare import (
    CompareReport,
    Comparison,
    compare,
    gpus_of_description,
    gpus_of_runs,
    measured_from_runs,
    measured_from_submission,
    pick_submission_system,
    published_accelerator,
)
from harness.results.pages.comparepage import number
from harness.results.published import Published, accelerator_names, default_path, load_published, rounds

FIX_RUN = "run one first, e.g. make run MODEL=resnet50 SCENARIO=offline, or pass --results-dir"


def _arguments(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m harness compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", help="system whose runs to compare (default: this machine's, as SYSTEM=auto); "
                                    "with --submission-dir, the system in the tree (default: the only one)")
    p.add_argument("--round", dest="round_name", help="only published results of this round, e.g. v4.1")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="this harness's results")
    p.add_argument("--submission-dir", type=Path, help="compare an MLPerf submission tree's results instead")
    p.add_argument("--submitter", help="submitter in the submission tree (default: the only one)")
    p.add_argument("--division", choices=("closed", "open", "network"), help="default: where it is found")
    p.add_argument("--accelerator", help="compare as this GPU model, as submissions name it (default: detected)")
    p.add_argument("--gpus", type=int, help="divide by this many GPUs (default: the GPUs the runs used)")
    p.add_argument("--published", type=Path, help="the published-results file (default: the harness's)")
    p.add_argument("--out", type=Path, help="page folder (default: <results-dir>/compare/<system>)")
    return p.parse_args(argv)


def _check_round(round_name: str | None, rows: list[Published], path: Path) -> None:
    if round_name is not None and round_name not in rounds(rows):
        raise HarnessError(f"no published results of round '{round_name}' in {path}",
                           "rounds there: " + ", ".join(rounds(rows)) + " (or leave --round out for all)")


def _accelerator(given: str, rows: list[Published]) -> str:
    names = accelerator_names(rows)
    match = next((n for n in names if n.lower() == given.strip().lower()), None)
    if match is None:
        raise HarnessError(f"no published results for accelerator '{given}'", "published: " + ", ".join(names))
    return match


def _local(args: argparse.Namespace, rows: list[Published]) -> tuple[CompareReport, Path]:
    from harness.results.pages import local
    from harness.system_configs import all_systems, match_system, system_names

    results_dir: Path = args.results_dir
    if not results_dir.is_dir():
        raise HarnessError(f"results directory {results_dir} not found", FIX_RUN)
    all_runs = local.scan(results_dir)
    with_runs = ", ".join(sorted(all_runs)) or "none"
    if args.system is not None:
        system = args.system.strip()
        if system not in all_runs:
            if system not in system_names():
                raise HarnessError(f"unknown system '{system}'", f"systems with runs under {results_dir}: "
                                   f"{with_runs}; configs: {', '.join(system_names())}")
            raise HarnessError(f"no runs for system '{system}' under {results_dir}",
                               f"{FIX_RUN}; systems with runs: {with_runs}")
    else:
        from harness.machine.host import detect_host

        system = match_system(detect_host()).name
        if system not in all_runs:
            raise HarnessError(f"no runs for this machine's system '{system}' under {results_dir}",
                               f"pass --system (systems with runs: {with_runs}) or {FIX_RUN}")
    runs = all_runs[system]
    measured = measured_from_runs(runs)
    if not any(m.value is not None for m in measured):
        problems = "; ".join(f"{m.mlperf_model} {m.scenario}: {m.problem}" for m in measured) or "none"
        raise HarnessError(f"no VALID performance runs for system '{system}' under {results_dir} ({problems})",
                           f"{FIX_RUN}; `python -m harness report` explains why a run is INVALID")
    gpu_name, gpus = gpus_of_runs(runs)
    notes = []
    if args.accelerator:
        accelerator: str | None = _accelerator(args.accelerator, rows)
    elif gpu_name is None:
        accelerator = None
        notes.append("the runs saw no GPU: published MLPerf results are per GPU (pass --accelerator NAME to "
                     "compare anyway)")
    else:
        known = [(s.gpu.model, s.gpu.match) for s in all_systems() if s.gpu is not None]
        accelerator = published_accelerator(gpu_name, known, rows)
        if accelerator is None:
            notes.append(f"no published results for GPU '{gpu_name}': pass --accelerator NAME (one of "
                         f"{', '.join(accelerator_names(rows))})")
    gpus = args.gpus or gpus
    report = CompareReport(system, str(results_dir / system), accelerator, gpus, args.round_name,
                           compare(measured, rows, accelerator, gpus, args.round_name), notes)
    return report, args.out or results_dir / "compare" / system


def _submission(args: argparse.Namespace, rows: list[Published]) -> tuple[CompareReport, Path]:
    from harness.results.pages import submission

    submitter, system = pick_submission_system(args.submission_dir, args.submitter, args.system)
    found = submission.locate(args.submission_dir, submitter, system, args.division)
    name, gpus = gpus_of_description(found.description)
    notes = list(found.notes)
    accelerator = _accelerator(args.accelerator, rows) if args.accelerator else name
    if accelerator is None:
        notes.append(f"{found.systems_json} names no accelerator_model_name: pass --accelerator NAME")
    gpus = args.gpus or gpus
    measured = measured_from_submission(found)
    if not measured:
        raise HarnessError(f"no results under {found.results_dir}", "pass the tree that holds closed/<org>/results")
    report = CompareReport(f"{submitter} {system}", str(found.results_dir), accelerator, gpus, args.round_name,
                           compare(measured, rows, accelerator, gpus, args.round_name, (submitter, system)), notes)
    return report, args.out or args.results_dir / "compare" / f"{submitter}-{system}"


def _print(report: CompareReport) -> None:
    gpus = f"{report.gpus}x {report.accelerator}" if report.accelerator else "no GPU"
    print(f"== {report.title} ({gpus}) vs published MLPerf results, "
          + (f"round {report.round_name}" if report.round_name else "every round"))
    print(f"{'benchmark':13s} {'scenario':8s} {'result':>12s} {'unit':9s} {'per GPU':>11s} {'published/GPU':>13s} "
          f"{'ratio':>5s}  reference (published range per GPU)")
    for c in report.rows:
        _print_row(c)
    for note in report.notes:
        print(f"!! {note}")


def _print_row(c: Comparison) -> None:
    m, ref = c.measured, c.reference
    ratio = f"{c.ratio:.2f}" if c.ratio is not None else "-"
    where = (f"{ref.submitter} {ref.system} {ref.round} x{ref.accelerators}" if ref else c.note)
    span = c.published_range
    if span and len(c.published) > 1:
        where += f" ({number(span[0])} - {number(span[1])}, {len(c.published)} systems)"
    print(f"{m.mlperf_model:13s} {m.scenario:8s} {number(m.value):>12s} {m.metric:9s} {number(c.per_gpu):>11s} "
          f"{number(ref.per_accelerator) if ref else '-':>13s} {ratio:>5s}  {where}")
    if c.flag:
        print(f"{'':23s}!! {c.flag}")
    if c.same_system is not None:
        verdict = "matches" if c.same_system_agrees else "DIFFERS from"
        print(f"{'':23s}{verdict} its published row ({c.same_system.round}): {c.same_system.value_text} "
              f"{c.same_system.metric}")


def main(argv: list[str]) -> int:
    from harness.results.pages.comparepage import render_compare
    from harness.results.pages.facts import check_round
    from harness.rules import DEFAULT_ROUND

    args = _arguments(argv)
    if args.gpus is not None and args.gpus < 1:
        raise HarnessError(f"--gpus must be a positive number of GPUs, got {args.gpus}")
    path = args.published or default_path()
    rows = load_published(path)
    _check_round(args.round_name, rows, path)
    if args.submission_dir is not None:
        report, out = _submission(args, rows)
    else:
        if args.submitter or args.division:
            raise HarnessError("--submitter and --division apply to --submission-dir only")
        report, out = _local(args, rows)
    order = check_round(DEFAULT_ROUND).order_key
    report.rows.sort(key=lambda c: (order(c.measured.mlperf_model), c.measured.scenario))
    _print(report)
    page = render_compare(report, out)
    print(f"== written {page}")
    return 0
