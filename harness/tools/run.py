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
    models = _names(args.benchmarks, "--benchmarks", "e.g. --benchmarks=resnet50,bert")
    scenarios = _names(args.scenarios, "--scenarios", "e.g. --scenarios=offline,server")
    batch_sizes = _batch_sizes(args.gpu_batch_size, models)
    runs = []
    for model in models:
        for scenario in scenarios:
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
            size = batch_sizes.get(_canonical(model), batch_sizes.get("*"))
            if size is not None:
                cmd += ["--batch-size", str(size)]
            if args.log_dir:
                cmd += ["--results-dir", str(args.log_dir)]
            runs.append(cmd + list(rest))
    return runs


def _names(text: str, flag: str, example: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise HarnessError(f"{flag} is empty: nothing to run", example)
    return names


def _canonical(model: str) -> str:
    from models import get_model_class

    name: str = get_model_class(model).name
    return name


def _batch_sizes(text: str | None, models: list[str]) -> dict[str, int]:
    """--gpu_batch_size: "256" for every benchmark, or "resnet50:256,bert:64" (any name or alias of a model
    among --benchmarks); anything else is refused."""
    if text is None:
        return {}
    fix = "e.g. --gpu_batch_size=256 or --gpu_batch_size=resnet50:256,bert:64"
    wanted = {_canonical(m) for m in models}
    sizes: dict[str, int] = {}
    for item in [i.strip() for i in text.split(",")]:
        name, sep, raw = item.rpartition(":")
        key = _canonical(name.strip()) if sep else "*"
        if sep and key not in wanted:
            raise HarnessError(f"--gpu_batch_size {item!r}: {name.strip()} is not among --benchmarks", fix)
        try:
            size = int(raw.strip())
        except ValueError:
            size = 0
        if size < 1:
            raise HarnessError(f"--gpu_batch_size {item!r}: the batch size must be a positive integer", fix)
        sizes[key] = size
    return sizes


def run_harness(argv: list[str]) -> int:
    """Each benchmark x scenario in its own process (LoadGen loads its config once per process). A signal
    to this process stops the child run in progress and starts no further one (child.ChildInterrupted)."""
    from harness.tools.child import run_child

    runs = nvidia_to_runs(argv)
    if len(runs) == 1:
        return main(runs[0])
    worst = 0
    for run_args in runs:
        child = run_child(run_args, _results_dir_of(run_args), capture=False)
        worst = max(worst, child.returncode)
    return worst


def _results_dir_of(run_args: list[str]) -> Path:
    """The --results-dir a `harness run` argument list gives (its last one), else the default."""
    found = Path("results")
    for i, arg in enumerate(run_args):
        if arg == "--results-dir" and i + 1 < len(run_args):
            found = Path(run_args[i + 1])
        elif arg.startswith("--results-dir="):
            found = Path(arg.split("=", 1)[1])
    return found
