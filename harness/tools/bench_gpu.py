"""`python -m harness bench-gpu --model resnet50`: a 60-s Offline run and a 60-s Server run (for models
that have one) at the system's (searched) target, compared per GPU with the published MLPerf result for
the same GPU model.

Writes results/bench/<gpu>/<model>.json: samples/s, p99, validity, GPU telemetry when it was recorded,
and the ratio to the published per-GPU figure (configs/reference/published_results.csv).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.machine.host import detect_host, slug
from harness.results.published import published_per_gpu
from harness.tools.args import add_run_arguments, run_arguments_of
from harness.tools.child import run_child
from models import get_model_class

# Run flags bench-gpu sets itself (both scenarios, its own duration).
_OWN_FLAGS = ("--scenario", "--min-duration-ms", "--min-query-count", "--mode")


def _run(args: argparse.Namespace, scenario: str, results_dir: Path) -> dict[str, Any]:
    run_args = ["--scenario", scenario, *run_arguments_of(args, skip=_OWN_FLAGS),
                "--min-duration-ms", str(args.duration_ms), "--min-query-count", "1"]
    print(f"== run {' '.join(run_args)}", flush=True)
    child = run_child(run_args, results_dir, capture=False)
    if child.returncode != 0 or child.record is None:
        raise HarnessError(f"the {scenario} run failed (exit {child.returncode})", "see its output above")
    return child.record


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    result = record.get("result") or {}
    return {"run_id": record["run_id"], "valid": result.get("valid"), "value": result.get("value"),
            "unit": result.get("unit"), "target_qps": record["loadgen"]["plan"]["target_qps"],
            "p99_ms": (record.get("latency_ns", {}).get("p99") or 0) / 1e6 or None,
            "precision": record["backend"].get("precision"), "backend": record["backend"].get("name"),
            "knobs": record.get("knobs"), "telemetry": record.get("telemetry") or {"recorded": False}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness bench-gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, scenario_required=False)
    p.add_argument("--duration-ms", type=int, default=60000)
    p.add_argument("--out", type=Path, default=Path("results/bench"))
    p.add_argument("--allow-cpu", action="store_true", help="run without a GPU (to try the command itself)")
    args = p.parse_args(argv)
    host = detect_host()
    if not host.gpus and not args.allow_cpu:
        raise HarnessError("bench-gpu measures GPUs and none is visible",
                           "run it on a GPU machine (or pass --allow-cpu to try the command)")
    runs_dir = args.out / "runs"
    # Only the scenarios the model has in MLPerf (3D-UNet: Offline only).
    records = {s: _run(args, s.lower(), runs_dir) for s in ("Offline", "Server")
               if s in get_model_class(args.model).scenarios}
    offline = records["Offline"]
    from harness.system_configs import load_system, resolve_system

    system = resolve_system(args.system, host)
    reference_system = load_system(system.derived_from) if system.derived_from else system
    accelerator = reference_system.gpu.model if reference_system.gpu else "CPU"
    gpus = len(host.gpus) or 1
    report: dict[str, Any] = {"model": offline["model"], "mlperf_model": offline["mlperf_model"],
                              "system": system.name, "gpu": host.gpus[0].name if host.gpus else "none",
                              "gpu_count": len(host.gpus), "reference_accelerator": accelerator,
                              "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "scenarios": {}}
    print()
    print(f"{'scenario':9s} {'result':>14s} {'per GPU':>12s} {'published/GPU':>14s} {'ratio':>6s}  {'p99 ms':>8s}")
    for scenario, record in records.items():
        entry = _summary(record)
        published = published_per_gpu(accelerator, record["mlperf_model"], scenario, gpus)
        value = entry["value"] or 0.0
        entry["per_gpu"] = value / gpus
        if published is not None:
            entry["published"] = {"round": published.round, "system": published.system, "value": published.value,
                                  "accelerators": published.accelerators, "per_gpu": published.per_accelerator}
            entry["ratio_to_published"] = entry["per_gpu"] / published.per_accelerator
        report["scenarios"][scenario] = entry
        ratio = entry.get("ratio_to_published")
        pub = f"{published.per_accelerator:>14,.1f}" if published else f"{'-':>14s}"
        print(f"{scenario:9s} {value:>14,.1f} {entry['per_gpu']:>12,.1f} {pub} "
              f"{(f'{ratio:.2f}' if ratio else '-'):>6s}  {entry['p99_ms'] or 0:8.2f} "
              f"{'VALID' if entry['valid'] else 'INVALID'}")
    dest = args.out / slug(report["gpu"]) / f"{report['mlperf_model']}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(report, indent=2) + "\n")
    print(f"== written {dest}")
    return 0
