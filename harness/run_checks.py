"""Checks around one run (harness.run): before anything expensive (the results folder, settings LoadGen
cannot hold, other runs of the results folder), while LoadGen runs (the Server backlog) and after it
(what LoadGen used, runs that overlapped this one)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness import loadgen_settings
from harness.common import say
from harness.errors import HarnessError
from harness.machine.host import meminfo_kib
from harness.resolve import ResolvedRun
from harness.results import store
from harness.results.record import RunRecord


def check_results_dir(r: ResolvedRun) -> Path:
    """The run's runs/ folder, checked writable with room for a run before anything expensive."""
    s = r.spec
    runs_dir = store.scenario_dir(s.results_dir, r.system.name, r.mlperf_model, s.scenario) / "runs"
    store.check_writable(runs_dir)
    return runs_dir


def check_other_runs(r: ResolvedRun) -> None:
    """Runs of this results folder left "running" by a process that is gone are marked interrupted; one that
    is running now is a warning (both share the machine, so neither's throughput is its own)."""
    marked, active = store.sort_unfinished_runs(r.spec.results_dir)
    for run_dir in marked:
        say(f"!! {run_dir} was left running by a process that is gone: marked interrupted")
    for run_dir, other in active:
        r.warnings.append(_concurrent_text(run_dir, other.pid))


def _concurrent_text(run_dir: Path, pid: int | None = None) -> str:
    where = f"{run_dir}, pid {pid}" if pid is not None else str(run_dir)
    return (f"another run was active in this results folder at the same time ({where}): the two shared the "
            "machine, so this run's throughput and latency are not its own")


# What LoadGen holds per sample of an Offline query, and per query of a Server schedule (measured with the
# null backend: 14.5M Offline samples took 2.4 GB, 10M Server queries 4.6 GB), rounded down.
_LOADGEN_BYTES = {"Offline": 120, "Server": 400}


def check_loadgen_memory(plan: loadgen_settings.LoadGenPlan, rule_duration_ms: int, rule_query_count: int,
                         available_bytes: int | None) -> None:
    """A performance run LoadGen would need more memory for than is free (its Offline query, or its Server
    schedule, is made up front) is refused before it starts, instead of running out of memory."""
    if plan.mode != "performance" or available_bytes is None:
        return
    duration_ms = rule_duration_ms if plan.min_duration_ms is None else plan.min_duration_ms
    count = max(plan.min_query_count if plan.min_query_count is not None else rule_query_count,
                plan.target_qps * duration_ms / 1000)
    need = count * _LOADGEN_BYTES[plan.scenario]
    if need > available_bytes:
        what = "samples in its one Offline query" if plan.scenario == "Offline" else "queries in its Server schedule"
        free_gib = available_bytes / 2**30
        raise HarnessError(f"LoadGen would hold about {count:,.0f} {what} ({plan.target_qps:,.6g}/s for "
                           f"{duration_ms / 1000:g} s), about {need / 2**30:.1f} GiB, and {free_gib:.1f} GiB of "
                           "memory is free", "shorten the run (--min-duration-ms, or FAST=1) or lower --target-qps")


def check_plan(r: ResolvedRun, plan: loadgen_settings.LoadGenPlan, runs_dir: Path, dataset_count: int) -> None:
    """Before the run folder: LoadGen can hold what the plan asks, and an accuracy run's log fits on disk."""
    check_loadgen_memory(plan, r.rules.min_duration_ms, r.model_rules.min_query_count(plan.scenario),
                         available_memory())
    if plan.mode == "accuracy":
        store.check_free_space(runs_dir, store.MIN_FREE_BYTES + accuracy_log_bytes(r, dataset_count))


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    kib = meminfo_kib("MemAvailable")
    return None if kib is None else kib * 1024


def accuracy_log_bytes(r: ResolvedRun, count: int) -> int:
    """An upper bound of mlperf_log_accuracy.json: every sample's outputs, hex-encoded, per line."""
    network = r.model.network
    per_sample = 4096
    if network is not None:
        per_sample = sum(spec.sample_nbytes for spec in network.outputs)
    return count * (2 * per_sample + 64)



def server_backlog(target_qps: float, first_issue_s: float | None, issued: int, completed: int, now_s: float) -> int:
    """Server queries due by now and not yet answered: those the SUT holds (issued, not completed) plus those
    LoadGen's schedule (target QPS since its first query) has due but not yet issued, which is where the
    backlog sits when LoadGen itself cannot keep up. The schedule is Poisson: four standard deviations of
    its count are not counted, so a run on schedule is never taken for one behind."""
    held = issued - completed
    if first_issue_s is None:
        return held
    due = target_qps * max(now_s - first_issue_s, 0.0)
    not_issued = max(0.0, due - issued - 4.0 * math.sqrt(due))
    return held + int(not_issued)



def effective_settings(log: Any) -> dict[str, Any]:
    """What LoadGen actually used (its effective_* keys), which may differ from what was asked."""
    keys = ("target_qps", "target_latency_ns", "target_latency_percentile", "min_duration_ms", "min_query_count",
            "performance_sample_count")
    return {key: log.get(f"effective_{key}") for key in keys if f"effective_{key}" in log}


def note_overlaps(record: RunRecord, results_dir: Path) -> None:
    """Runs that started (or ran) while this one did, not yet warned about at its start."""
    for run_dir in store.overlapping_runs(results_dir, record):
        if not any(str(run_dir) in w for w in record.warnings):
            warning = _concurrent_text(run_dir)
            record.warnings.append(warning)
            say(f"!! {warning}")
