"""`python -m harness run ...`, and NVIDIA's spelling `run_harness --benchmarks=... --scenarios=...`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.tools.args import add_run_arguments, spec_from_args


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness run", description="run one model x scenario under LoadGen")
    add_run_arguments(p)
    return p


def main(argv: list[str]) -> int:
    from harness.run import execute

    return execute(spec_from_args(parser().parse_args(argv)))


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


def run_harness(argv: list[str]) -> int:
    """Each benchmark x scenario in its own process (LoadGen loads its config once per process)."""
    import subprocess
    import sys

    from harness.tools.child import child_env

    runs = nvidia_to_runs(argv)
    if len(runs) == 1:
        return main(runs[0])
    worst = 0
    for run_args in runs:
        code = subprocess.call([sys.executable, "-m", "harness", "run", *run_args], env=child_env())
        worst = max(worst, code)
    return worst
