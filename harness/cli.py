"""Command line: `python -m harness run ...`, plus NVIDIA-style `run_harness --benchmarks=... --scenarios=...`."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.spec import RunSpec


def _add_run_arguments(p: argparse.ArgumentParser, scenario_required: bool = True) -> None:
    p.add_argument("--model", required=True, help="resnet50 (alias resnet), ...")
    if scenario_required:
        p.add_argument("--scenario", required=True, help="offline or server (any case)")
    else:
        p.add_argument("--scenario", default="all", help="offline, server, or all (default) of the model's")
    p.add_argument("--mode", default="performance", help="performance (default) or accuracy")
    p.add_argument("--backend", default="auto", help="auto (default), torch, onnxruntime, null")
    p.add_argument("--system", default="auto", help="auto (default: detect) or a configs/systems/<name>")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--fast", action="store_true", help="60 s runs, like NVIDIA's --test_run")
    p.add_argument("--demo", action="store_true", help="use the built-in demo data even if a dataset is present")
    p.add_argument("--demo-samples", type=int, help="size of the generated demo set")
    p.add_argument("--target-qps", type=float, help="Server target QPS / Offline expected QPS")
    p.add_argument("--min-duration-ms", type=int, help="override the minimum run duration")
    p.add_argument("--min-query-count", type=int, help="override the minimum query count")
    p.add_argument("--target-latency-ms", type=float,
                   help="override the Server latency bound (the result is then not comparable)")
    p.add_argument("--batch-size", type=int, help="override the system config's batch size")
    p.add_argument("--set", dest="knobs", action="append", default=[], metavar="KNOB=VALUE",
                   help="override any system-config knob, e.g. --set streams_per_device=2 (repeatable)")
    p.add_argument("--data-dir", type=Path, help="dataset directory (default: $MLPERF_DATA_DIR/<dataset>)")
    p.add_argument("--weights", type=Path, help="weights file (default: random init unless found in data/models)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where runs are written")
    p.add_argument("--rules", default="v4.1", help="MLPerf round whose rules apply (configs/rules)")
    p.add_argument("--strict", action="store_true", help="exit 3 when the run is INVALID or fails accuracy")
    p.add_argument("--abort-when-behind", type=float, metavar="SECONDS",
                   help="Server: stop (exit 4) once the backlog exceeds SECONDS of work: clearly INVALID")


def _spec_from_args(args: argparse.Namespace) -> RunSpec:
    return RunSpec(
        model=args.model, scenario=args.scenario, mode=args.mode, backend=args.backend, system=args.system,
        device=args.device, fast=args.fast, demo=args.demo, demo_samples=args.demo_samples,
        target_qps=args.target_qps, min_duration_ms=args.min_duration_ms, min_query_count=args.min_query_count,
        target_latency_ms=args.target_latency_ms, batch_size=args.batch_size, data_dir=args.data_dir,
        weights=args.weights, results_dir=args.results_dir, rules_round=args.rules, strict=args.strict,
        knob_overrides=tuple(args.knobs), abort_when_behind_s=args.abort_when_behind,
    )


def cmd_engines(args: argparse.Namespace) -> int:
    """Build the TensorRT engines `run` would use (per scenario: batch sizes and streams differ)."""
    from harness.backends.tensorrt.prebuild import build_engines
    from models import get_model_class

    if args.scenario.strip().lower() == "all":
        scenarios = list(get_model_class(args.model).scenarios)
    else:
        scenarios = [s for s in args.scenario.split(",") if s.strip()]
    specs = []
    for scenario in scenarios:
        args.scenario = scenario
        specs.append(_spec_from_args(args))
    return build_engines(specs, force=args.force)


def cmd_generate_engines(argv: Sequence[str]) -> int:
    """NVIDIA's `make generate_engines RUN_ARGS="--benchmarks=... --scenarios=..."`."""
    from harness.backends.tensorrt.prebuild import build_engines

    parser = argparse.ArgumentParser(prog="harness engines")
    _add_run_arguments(parser)
    parser.add_argument("--force", action="store_true")
    specs = [_spec_from_args(parser.parse_args(run_args)) for run_args in nvidia_to_runs(argv)]
    return build_engines(specs, force="--force" in argv)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.run import execute

    return execute(_spec_from_args(args))


# NVIDIA's closed-harness flags (code/common/fields.py) mapped onto ours.
_NVIDIA_MODES = {"performanceonly": "performance", "accuracyonly": "accuracy"}


def nvidia_to_runs(argv: Sequence[str]) -> list[list[str]]:
    """Translate `--benchmarks=a,b --scenarios=x,y --test_mode=... --test_run ...` into one
    `harness run` argument list per benchmark x scenario."""
    p = argparse.ArgumentParser(prog="harness run_harness", description="NVIDIA-style flags")
    p.add_argument("--benchmarks", required=True)
    p.add_argument("--scenarios", default="offline,server")
    p.add_argument("--test_mode", default="PerformanceOnly")
    p.add_argument("--test_run", action="store_true")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--system_name")
    p.add_argument("--server_target_qps", type=float)
    p.add_argument("--offline_expected_qps", type=float)
    p.add_argument("--min_duration", type=int)
    p.add_argument("--min_query_count", type=int)
    p.add_argument("--gpu_batch_size")
    p.add_argument("--log_dir", type=Path)
    args, rest = p.parse_known_args(list(argv))
    mode = _NVIDIA_MODES.get(args.test_mode.lower())
    if mode is None:
        raise HarnessError(f"unknown --test_mode {args.test_mode}", "use PerformanceOnly or AccuracyOnly")
    batch_sizes = {}
    for item in (args.gpu_batch_size or "").split(","):
        if ":" in item:
            name, size = item.split(":", 1)
            batch_sizes[name.strip()] = size.strip()
    runs = []
    for model in [m for m in args.benchmarks.split(",") if m]:
        for scenario in [s for s in args.scenarios.split(",") if s]:
            cmd = ["--model", model, "--scenario", scenario, "--mode", mode]
            if args.test_run or args.fast:
                cmd.append("--fast")
            if args.system_name:
                cmd += ["--system", args.system_name]
            qps = args.server_target_qps if scenario.lower() == "server" else args.offline_expected_qps
            if qps:
                cmd += ["--target-qps", str(qps)]
            if args.min_duration is not None:
                cmd += ["--min-duration-ms", str(args.min_duration)]
            if args.min_query_count is not None:
                cmd += ["--min-query-count", str(args.min_query_count)]
            if model in batch_sizes:
                cmd += ["--batch-size", batch_sizes[model]]
            if args.log_dir:
                cmd += ["--results-dir", str(args.log_dir)]
            runs.append(cmd + list(rest))
    return runs


def cmd_run_harness(argv: Sequence[str]) -> int:
    runs = nvidia_to_runs(argv)
    if len(runs) == 1:
        return main(["run", *runs[0]])
    worst = 0
    for run_args in runs:  # one process per run: LoadGen loads its config once per process
        code = subprocess.call([sys.executable, "-m", "harness", "run", *run_args])
        worst = max(worst, code)
    return worst


def cmd_report(args: argparse.Namespace) -> int:
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
    written = render_results(args.results_dir, args.systems_dir, args.system, args.rules_given)
    summaries = [p for p in written if p.name == "summary.html"]
    print(f"wrote {len(written) - len(summaries) - 1} run page(s), {len(summaries)} summary page(s):")
    for page in summaries + [written[-1]]:
        print(f"  {page}")
    return 0


def cmd_system(args: argparse.Namespace) -> int:
    from harness import sysdesc

    name = args.name
    if name is None:
        from harness.devices import detect_host
        from harness.systems import match_system

        name = match_system(detect_host()).name
    update = sysdesc.ensure(args.systems_dir, name, write=not args.check)
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


def _add_page_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = sub.add_parser("report", help="render results pages: summary.html per system, run pages, index")
    report.add_argument("--results-dir", type=Path, default=Path("results"), help="this harness's results")
    report.add_argument("--system", help="only this system (default: every system with runs)")
    report.add_argument("--systems-dir", type=Path, default=Path("systems"), help="systems/<name>.json files")
    report.add_argument("--rules", dest="rules_given", default=None, help="MLPerf round (default: the runs' round)")
    report.add_argument("--submission-dir", type=Path, help="render an MLPerf submission tree instead")
    report.add_argument("--submitter", help="submitter (organisation) in the submission tree")
    report.add_argument("--division", choices=("closed", "open", "network"), help="default: where it is found")
    report.add_argument("--out", type=Path, help="page path (default: <tree>/<division>/<org>/results/<system>/)")
    report.set_defaults(func=cmd_report)
    system = sub.add_parser("system", help="detect this machine and write systems/<name>.json (keeps your edits)")
    system.add_argument("--name", help="system name (default: the SYSTEM=auto match for this machine)")
    system.add_argument("--systems-dir", type=Path, default=Path("systems"), help="where the files live")
    system.add_argument("--check", action="store_true", help="detect and list what is missing; write nothing")
    system.set_defaults(func=cmd_system)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one model x scenario under LoadGen")
    _add_run_arguments(run)
    run.set_defaults(func=cmd_run)
    sub.add_parser("run_harness", help="NVIDIA-style flags: --benchmarks=... --scenarios=... --test_mode=...",
                   add_help=False)
    engines = sub.add_parser("engines", help="build the TensorRT engines for a model ahead of time")
    _add_run_arguments(engines, scenario_required=False)
    engines.add_argument("--force", action="store_true", help="rebuild even when a valid cached engine exists")
    engines.set_defaults(func=cmd_engines)
    sub.add_parser("generate_engines", help="NVIDIA-style flags: --benchmarks=... --scenarios=...", add_help=False)
    sub.add_parser("search", help="highest VALID Server target QPS / Offline expected QPS (short probes)",
                   add_help=False)
    sub.add_parser("bench-gpu", help="60-s Offline + Server runs vs the published per-GPU result",
                   add_help=False)
    sub.add_parser("bench-overhead", help="harness overhead vs a bare LoadGen SUT (a benchmark, prints ratios)",
                   add_help=False)
    _add_page_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "run_harness":
            return cmd_run_harness(argv[1:])
        if argv and argv[0] == "generate_engines":
            return cmd_generate_engines(argv[1:])
        if argv and argv[0] == "search":
            from harness.search import main as search_main

            return search_main(argv[1:])
        if argv and argv[0] == "bench-gpu":
            from harness.bench.gpu import main as bench_gpu_main

            return bench_gpu_main(argv[1:])
        if argv and argv[0] == "bench-overhead":
            from harness.bench.overhead import main as bench_main

            return bench_main(argv[1:])
        args = build_parser().parse_args(argv)
        code: int = args.func(args)
        return code
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
