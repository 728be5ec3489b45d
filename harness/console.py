"""What a run prints: the banner before it, the plan, and the report after it."""

from __future__ import annotations

from typing import Any

from harness import loadgen_settings
from harness.common import say
from harness.resolve import ResolvedRun
from harness.results.record import RunRecord


def banner(r: ResolvedRun) -> None:
    s = r.spec
    gpu = f"{len(r.host.gpus)}x {r.host.gpus[0].name}" if r.host.gpus else "no GPU"
    say(f"== {r.model.name} {s.scenario} {s.mode} | system {r.system.name} ({gpu}) | "
        f"backend {r.backend_name} ({r.backend_reason})")
    if r.demo:
        say(f"!! DEMO DATA: {r.data_note}")
        say("!! demo data: its accuracy means nothing and its throughput is not comparable with MLPerf results")
    if r.model.uses_random_weights and r.backend_name != "null":
        say(f"!! RANDOM WEIGHTS: {r.model.describe_weights()}; {r.model.weights_hint()} fetches the real ones")
    for warning in r.warnings:
        say(f"!! {warning}")


def plan_banner(r: ResolvedRun, plan: loadgen_settings.LoadGenPlan, run_dir: Any,
                comparable: dict[str, Any]) -> None:
    s = r.spec
    if plan.run_length != "rules" and s.mode == "performance":
        duration = plan.min_duration_ms if plan.min_duration_ms is not None else r.rules.min_duration_ms
        say(f"!! run length '{plan.run_length}': min duration {duration} ms (rules: {r.rules.min_duration_ms} ms)")
    k = r.knobs.run
    say(f"   knobs: batch_size={k.batch_size} streams_per_device={k.streams_per_device} "
        f"precision={k.precision} target_qps={plan.target_qps:g}"
        + (f" batch_timeout_us={k.batch_timeout_us}" if s.scenario == "Server" else ""))
    say(f"   run dir: {run_dir}")
    if not comparable["submission_grade"] and s.mode == "performance":
        say("   not submission-grade: " + "; ".join(comparable["reasons"]))


def report(record: RunRecord, run_dir: Any, published: Any) -> None:
    say(f"== run dir: {run_dir}")
    if published is not None:
        say(f"   latest {record.mode} copy: {published}")
    if record.mode == "performance":
        res = record.result
        value = res.get("value")
        shown = f"{value:,.2f} {res['unit']}" if value is not None else "no result"
        if res.get("samples_per_s") is not None:
            shown += f" ({res['samples_per_s']:,.2f} {'samples' if record.scenario == 'Offline' else 'queries'}/s)"
        say(f"== result: {shown}  {'VALID' if res['valid'] else 'INVALID'}")
        for line in res.get("explanation", []):
            say(f"   INVALID because {line}")
        lat = record.latency_ns
        if "p99" in lat:
            say(f"   latency p50 {lat.get('p50', 0) / 1e6:.2f} ms, p99 {lat['p99'] / 1e6:.2f} ms")
    else:
        acc = record.accuracy
        say(f"== accuracy: {acc['report']}")
        targets = ", ".join(f"{k} >= {v:.10g}" for k, v in acc["targets"].items())
        say(f"   target ({acc['mlperf_model']}): {targets}: {'PASS' if acc['passed'] else 'FAIL'}")
        for note in acc.get("notes", []):
            say(f"   note: {note}")
    if not record.comparable.get("submission_grade", False):
        say("   not comparable with MLPerf results: " + "; ".join(record.comparable["reasons"]))
