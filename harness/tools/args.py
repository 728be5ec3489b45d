"""The `run` arguments, declared once: `run`, `engines`, `search` and `bench-gpu` share them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.spec import RunSpec


def add_run_arguments(p: argparse.ArgumentParser, scenario_required: bool = True) -> None:
    p.add_argument("--model", required=True, help="resnet50 (alias resnet), retinanet, bert-99, bert-99.9, ...")
    if scenario_required:
        p.add_argument("--scenario", required=True, help="offline or server (any case)")
    else:
        p.add_argument("--scenario", default="all", help="offline, server, or all (default) of the model's")
    p.add_argument("--mode", default="performance", help="performance (default) or accuracy")
    p.add_argument("--backend", default="auto", help="auto (default), tensorrt, torch, onnxruntime, null")
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
                   help="override any knob of the run, its backend or its model, e.g. --set streams_per_device=2 "
                        "(repeatable; `python -m harness knobs` lists them)")
    p.add_argument("--data-dir", type=Path, help="dataset directory (default: $MLPERF_DATA_DIR/<dataset>)")
    p.add_argument("--weights", type=Path, help="weights file (default: random init unless found in data/models)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where runs are written")
    p.add_argument("--rules", default="v4.1", help="MLPerf round whose rules apply (configs/rules)")
    p.add_argument("--strict", action="store_true", help="exit 3 when the run is INVALID or fails accuracy")
    p.add_argument("--abort-when-behind", type=float, metavar="SECONDS",
                   help="Server: stop (exit 4) once the backlog exceeds SECONDS of work: clearly INVALID")
    # Set by `python -m harness compliance` for its child runs.
    p.add_argument("--compliance-test", help=argparse.SUPPRESS)


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    return RunSpec(
        model=args.model, scenario=args.scenario, mode=args.mode, backend=args.backend, system=args.system,
        device=args.device, fast=args.fast, demo=args.demo, demo_samples=args.demo_samples,
        target_qps=args.target_qps, min_duration_ms=args.min_duration_ms, min_query_count=args.min_query_count,
        target_latency_ms=args.target_latency_ms, batch_size=args.batch_size, data_dir=args.data_dir,
        weights=args.weights, results_dir=args.results_dir, rules_round=args.rules, strict=args.strict,
        knob_overrides=tuple(args.knobs), abort_when_behind_s=args.abort_when_behind,
        compliance_test=getattr(args, "compliance_test", None),
    )


def run_arguments_of(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> list[str]:
    """The parsed run arguments turned back into `harness run` flags (for child runs); flags in ``skip``
    (e.g. "--target-qps", set per probe) are left out."""
    flags: list[str] = []
    for dest, flag in (("model", "--model"), ("scenario", "--scenario"), ("mode", "--mode"),
                       ("backend", "--backend"), ("system", "--system"), ("device", "--device"),
                       ("demo_samples", "--demo-samples"), ("target_qps", "--target-qps"),
                       ("min_duration_ms", "--min-duration-ms"), ("min_query_count", "--min-query-count"),
                       ("target_latency_ms", "--target-latency-ms"), ("batch_size", "--batch-size"),
                       ("data_dir", "--data-dir"), ("weights", "--weights"), ("rules", "--rules"),
                       ("abort_when_behind", "--abort-when-behind"), ("compliance_test", "--compliance-test")):
        value = getattr(args, dest, None)
        if value is not None and flag not in skip:
            flags += [flag, str(value)]
    for dest, flag in (("fast", "--fast"), ("demo", "--demo"), ("strict", "--strict")):
        if getattr(args, dest, False) and flag not in skip:
            flags.append(flag)
    for knob in getattr(args, "knobs", []):
        flags += ["--set", knob]
    return flags


# RunSpec field -> `harness run` flag, for replaying a recorded run (RunRecord.spec).
_SPEC_FLAGS = (("model", "--model"), ("scenario", "--scenario"), ("mode", "--mode"), ("backend", "--backend"),
               ("system", "--system"), ("device", "--device"), ("demo_samples", "--demo-samples"),
               ("target_qps", "--target-qps"), ("min_duration_ms", "--min-duration-ms"),
               ("min_query_count", "--min-query-count"), ("target_latency_ms", "--target-latency-ms"),
               ("batch_size", "--batch-size"), ("data_dir", "--data-dir"), ("weights", "--weights"),
               ("rules_round", "--rules"), ("abort_when_behind_s", "--abort-when-behind"),
               ("compliance_test", "--compliance-test"))


def run_arguments_of_spec(spec: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """A recorded run's spec (RunRecord.spec) as `harness run` flags, to run it again; flags in ``skip``
    are left out (the caller sets them). --results-dir is never included."""
    flags: list[str] = []
    for key, flag in _SPEC_FLAGS:
        value = spec.get(key)
        if value is not None and flag not in skip:
            flags += [flag, str(value)]
    for key, flag in (("fast", "--fast"), ("demo", "--demo"), ("strict", "--strict")):
        if spec.get(key) and flag not in skip:
            flags.append(flag)
    if "--set" not in skip:
        for knob in spec.get("knob_overrides") or ():
            flags += ["--set", str(knob)]
    return flags
