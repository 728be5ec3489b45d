"""One run, end to end: resolve, load, build runners, LoadGen StartTest, check, record, publish."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg

from harness import loadgen_settings, sysdesc, telemetry
from harness.backends import Backend, BackendInfo, BackendOptions, Runner, backend_class
from harness.errors import HarnessError
from harness.progress import Progress
from harness.qsl import SampleStore
from harness.resolve import ResolvedRun, resolve
from harness.results import accuracy as accuracy_check
from harness.results import store
from harness.results.explain import judge_performance
from harness.results.logparse import latency_summary_ns, parse_detail_log
from harness.results.pages import render_after_run
from harness.results.record import (
    STATUS_ABORTED,
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    RunRecord,
    git_state,
    now_iso,
    software_versions,
)
from harness.scenarios import make_sut
from harness.scenarios.base import BatchExecutor
from harness.spec import RunSpec
from models.base import Dataset

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 3
EXIT_ABORTED = 4
EXIT_INTERRUPTED = 130


class RunInterrupted(Exception):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


def _comparability(r: ResolvedRun, plan: loadgen_settings.LoadGenPlan) -> dict[str, Any]:
    reasons = []
    if r.demo:
        reasons.append("demo data")
    if r.model.uses_random_weights and r.backend_name != "null":
        reasons.append("random weights")
    if r.backend_name == "null":
        reasons.append("null backend (no inference)")
    if plan.mode == "performance":
        if plan.min_duration_ms is not None and plan.min_duration_ms < r.rules.min_duration_ms:
            reasons.append(f"min duration {plan.min_duration_ms} ms < {r.rules.min_duration_ms} ms of the rules")
        rule_queries = (r.model_rules.offline_min_query_count if plan.scenario == "Offline"
                        else r.model_rules.server_min_query_count)
        if plan.min_query_count is not None and plan.min_query_count < rule_queries:
            reasons.append(f"min query count {plan.min_query_count} < {rule_queries} of the rules")
    if plan.performance_sample_count is not None:
        reasons.append(f"performance sample count {plan.performance_sample_count} < "
                       f"{r.model_rules.performance_sample_count} of the rules")
    if plan.target_latency_ms is not None and plan.scenario == "Server":
        reasons.append(f"latency bound {plan.target_latency_ms:g} ms instead of "
                       f"{r.model_rules.server_target_latency_ms:g} ms")
    return {"submission_grade": not reasons, "reasons": reasons}


def _banner(r: ResolvedRun) -> None:
    s = r.spec
    gpu = f"{len(r.host.gpus)}x {r.host.gpus[0].name}" if r.host.gpus else "no GPU"
    say(f"== {r.model.name} {s.scenario} {s.mode} | system {r.system.name} ({gpu}) | "
        f"backend {r.backend_name} ({r.backend_reason})")
    if r.demo:
        say(f"!! DEMO DATA: {r.data_note}")
        say("!! demo data: its accuracy means nothing and its throughput is not comparable with MLPerf results")
    if r.model.uses_random_weights and r.backend_name != "null":
        say(f"!! RANDOM WEIGHTS: {r.model.describe_weights()}; {r.model.weights_hint} fetches the real ones")
    for warning in r.warnings:
        say(f"!! {warning}")


def _plan_banner(r: ResolvedRun, plan: loadgen_settings.LoadGenPlan, run_dir: Path,
                 comparable: dict[str, Any]) -> None:
    s = r.spec
    if plan.run_length != "rules" and s.mode == "performance":
        duration = plan.min_duration_ms if plan.min_duration_ms is not None else r.rules.min_duration_ms
        say(f"!! run length '{plan.run_length}': min duration {duration} ms (rules: {r.rules.min_duration_ms} ms)")
    k = r.knobs
    say(f"   knobs: batch_size={k.batch_size} streams_per_device={k.streams_per_device} "
        f"precision={k.precision} target_qps={plan.target_qps:g}"
        + (f" batch_timeout_us={k.batch_timeout_us}" if s.scenario == "Server" else ""))
    say(f"   run dir: {run_dir}")
    if not comparable["submission_grade"] and s.mode == "performance":
        say("   not submission-grade: " + "; ".join(comparable["reasons"]))


def _install_signal_handlers() -> Callable[[], None]:
    def on_term(signum: int, frame: object) -> None:
        raise RunInterrupted(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, on_term)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _start_test(sut_handle: Any, qsl_handle: Any, settings: Any, log: Any, audit_path: Path) -> threading.Thread:
    thread = threading.Thread(
        target=lg.StartTestWithLogSettings, args=(sut_handle, qsl_handle, settings, log, str(audit_path)),
        name="loadgen", daemon=True)
    thread.start()
    return thread


@dataclass
class Prepared:
    """Everything built before LoadGen starts (no run folder exists yet)."""

    dataset: Dataset
    backend: Backend
    runners: list[Runner]
    samples: SampleStore
    info: BackendInfo
    measured_qps: float | None


def execute(spec: RunSpec) -> int:
    """Run one benchmark; return the exit code. Must run in a fresh process (LoadGen loads its config once).

    Bad input fails before a run folder exists; once LoadGen starts, the folder is marked
    incomplete until the run finishes, and an interrupted or failed run stays marked.
    """
    loadgen_settings.check_no_audit_config(Path.cwd())
    r = resolve(spec)
    _banner(r)
    restore_signals = _install_signal_handlers()
    try:
        prepared = _prepare(r)
    except (KeyboardInterrupt, RunInterrupted):
        say("\n!! interrupted before the run started: nothing was written")
        return EXIT_INTERRUPTED
    finally:
        restore_signals()
    plan = _plan(r, prepared)
    s = r.spec
    run_id, run_dir = store.new_run_dir(s.results_dir, r.system.name, r.mlperf_model, s.scenario, s.mode)
    record = _new_record(r, prepared, plan, run_id)
    (run_dir / "user.conf").write_text(record.loadgen["user_conf"])
    record.write(run_dir)
    _plan_banner(r, plan, run_dir, record.comparable)
    restore_signals = _install_signal_handlers()
    try:
        return _run_loadgen(r, prepared, plan, run_dir, record)
    except (KeyboardInterrupt, RunInterrupted) as exc:
        _abort(record, run_dir, STATUS_INTERRUPTED, f"interrupted ({exc or 'Ctrl-C'})")
        say(f"\n!! run interrupted: {run_dir} is marked incomplete and is not a result")
        _hard_exit(EXIT_INTERRUPTED)
    except HarnessError as exc:
        _abort(record, run_dir, STATUS_FAILED, str(exc))
        raise
    except BaseException as exc:
        _abort(record, run_dir, STATUS_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        restore_signals()
    return EXIT_FAILED


def _prepare(r: ResolvedRun) -> Prepared:
    s = r.spec
    dataset = r.model.open_dataset(r.data_dir, s.cache_dir / "preprocessed")
    options = backend_options(r, dataset)
    backend = backend_class(r.backend_name)(r.model, options)
    runners = backend.runners()
    info = backend.info()
    for note in info.notes:
        say(f"!! {note}")
    samples = SampleStore(dataset, r.model.inputs)
    measured = None
    if backend.consumes_inputs:
        count = min(r.knobs.batch_size, dataset.total_count)
        example = samples.example(count)
        started = time.monotonic()
        for runner in runners:
            runner.warmup(example, count)
        warm_s = time.monotonic() - started
        note = ""
        if r.spec.mode == "performance":  # the rate sizes demo Offline runs and is recorded; accuracy needs none
            best = float("inf")
            for _ in range(3):  # best of three batches after warm-up
                started = time.monotonic()
                runners[0].infer(example, count)
                best = min(best, time.monotonic() - started)
            measured = count * len(runners) / max(best, 1e-9)
            note = f"; batches of {count} suggest ~{measured:,.1f} samples/s"
        say(f"   warm-up: {len(runners)} runner(s) on {', '.join(info.devices)} in {warm_s:.1f} s{note}")
    return Prepared(dataset, backend, runners, samples, info, measured)


def backend_options(r: ResolvedRun, dataset: Dataset) -> BackendOptions:
    s, k = r.spec, r.knobs
    return BackendOptions(device=s.device, precision=k.precision, channels_last=k.channels_last,
                          max_batch_size=k.batch_size, streams_per_device=k.streams_per_device,
                          cache_dir=s.cache_dir, engine_dir=s.cache_dir.parent / "engines",
                          workspace_mib=k.workspace_mib, builder_optimization_level=k.builder_optimization_level,
                          use_cuda_graphs=k.use_cuda_graphs, start_from_device=k.start_from_device,
                          torch_compile=k.torch_compile, dataset=dataset)


def _plan(r: ResolvedRun, prepared: Prepared) -> loadgen_settings.LoadGenPlan:
    s = r.spec
    target_qps = r.target_qps
    # A demo Offline run that finishes before its minimum duration is INVALID for no useful reason:
    # size it from the warm-up measurement unless the user set --target-qps.
    measured = prepared.measured_qps
    if (r.demo and s.scenario == "Offline" and s.mode == "performance" and s.target_qps is None
            and measured is not None and measured > target_qps):
        say(f"!! demo run: expected QPS raised from {target_qps:g} to {1.5 * measured:.4g} (warm-up measurement) "
            "so the run lasts its minimum duration")
        target_qps = 1.5 * measured
    return loadgen_settings.plan_run(
        r.rules, r.model_rules, s.scenario, s.mode, target_qps, prepared.dataset.total_count, fast=s.fast,
        demo=r.demo, min_duration_ms=s.min_duration_ms, min_query_count=s.min_query_count,
        target_latency_ms=s.target_latency_ms, server_coalesce_queries=r.knobs.server_coalesce_queries)


def _new_record(r: ResolvedRun, prepared: Prepared, plan: loadgen_settings.LoadGenPlan, run_id: str) -> RunRecord:
    s = r.spec
    record = RunRecord(run_id, r.model.name, r.mlperf_model, s.scenario, s.mode, r.system.name, spec=s.to_dict())
    record.rules = {"round": r.rules.round, **asdict(r.model_rules)}
    record.system_info = {"name": r.system.name, "description": r.system.description,
                          "derived_from": r.system.derived_from, "scale": r.system.scale,
                          "config": str(r.system.path) if r.system.path else None, "host": r.host.to_dict(),
                          "systems_json": sysdesc.for_run(r.system.name)}
    record.knobs = asdict(r.knobs)
    record.warnings = list(r.warnings)
    record.git = git_state()
    record.weights = {"random": r.model.uses_random_weights, "description": r.model.describe_weights(),
                      "path": str(r.model.weights) if r.model.weights else None}
    dataset = prepared.dataset
    record.data = {"demo": r.demo, "note": r.data_note, "location": dataset.location, "name": dataset.name,
                   "total_count": dataset.total_count}
    info = prepared.info
    record.backend = {"name": info.name, "reason": r.backend_reason, "devices": info.devices,
                      "precision": info.precision, "notes": info.notes, "warmup_samples_per_s": prepared.measured_qps,
                      **info.details}
    record.versions = software_versions(info.versions)
    record.model_info = r.model.extra_record()
    record.loadgen = {"plan": plan.to_dict(), "user_conf": loadgen_settings.user_conf_text(plan)}
    record.comparable = _comparability(r, plan)
    return record


def _abort(record: RunRecord, run_dir: Path, status: str, why: str) -> None:
    record.status = status
    record.error = why
    record.ended_at = now_iso()
    try:
        record.write(run_dir)
        (run_dir / store.INCOMPLETE_MARKER).write_text(f"This run is {status}: {why}\nIt is not a result.\n")
    except OSError:
        pass


def _hard_exit(code: int) -> None:
    """LoadGen's threads cannot be stopped mid-test; leave without waiting for them."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_loadgen(r: ResolvedRun, prepared: Prepared, plan: loadgen_settings.LoadGenPlan, run_dir: Path,
                 record: RunRecord) -> int:
    s = r.spec
    samples, runners = prepared.samples, prepared.runners
    executor = BatchExecutor(samples, r.model.postprocess_batch, prepared.backend.consumes_inputs,
                             lg.QuerySamplesComplete, lg.QuerySampleResponse, r.model.reads_batch_indices)
    sut = make_sut(s.scenario, runners, executor, r.knobs.batch_size, r.knobs.batch_timeout_us, samples)
    settings = loadgen_settings.make_test_settings(plan, run_dir / "user.conf")
    sut_handle = lg.ConstructFastSUT(sut.issue, sut.flush)
    total = prepared.dataset.total_count
    performance_count = plan.performance_sample_count or r.model_rules.performance_sample_count
    qsl_handle = lg.ConstructQSL(total, min(performance_count, total), samples.load, samples.unload)
    progress = Progress(lambda: (sut.issued, executor.completed))
    started = time.monotonic()
    sampler = telemetry.start(run_dir, r.host, prepared.info.devices)
    thread = _start_test(sut_handle, qsl_handle, settings, loadgen_settings.log_settings(run_dir, s.mode),
                         run_dir / "audit.config")
    behind_limit = s.abort_when_behind_s if s.scenario == "Server" and s.mode == "performance" else None
    while thread.is_alive():
        thread.join(0.2)
        progress.tick()
        if executor.error is not None:
            progress.finish()
            _abort(record, run_dir, STATUS_FAILED, executor.error_text)
            say(f"!! the backend failed during the run:\n{executor.error_text}")
            _hard_exit(EXIT_FAILED)
        if behind_limit is not None:
            backlog = sut.issued - executor.completed
            if backlog / plan.target_qps > behind_limit:
                progress.finish()
                why = (f"clearly INVALID: {backlog:,} queries waiting, {backlog / plan.target_qps:.1f} s of work "
                       f"at {plan.target_qps:,.0f} queries/s (--abort-when-behind {behind_limit:g})")
                record.result = {"valid": False, "value": None, "unit": "queries/s", "aborted": True,
                                 "explanation": [why]}
                _abort(record, run_dir, STATUS_ABORTED, why)
                say(f"!! run stopped early, {why}")
                _hard_exit(EXIT_ABORTED)
    progress.finish()
    elapsed = time.monotonic() - started
    record.telemetry = sampler.stop()
    sut.stop()
    lg.DestroyQSL(qsl_handle)
    lg.DestroyFastSUT(sut_handle)
    for runner in runners:
        runner.close()
    record.harness_stats = {"wall_s": round(elapsed, 3), "batches": executor.batches,
                            "samples": executor.completed}
    return _finish(r, run_dir, record, prepared.dataset)


def _finish(r: ResolvedRun, run_dir: Path, record: RunRecord, dataset: Any) -> int:
    s = r.spec
    detail_path = run_dir / "mlperf_log_detail.txt"
    if not detail_path.is_file():
        raise HarnessError(f"LoadGen wrote no {detail_path}", "check disk space and permissions on --results-dir")
    log = parse_detail_log(detail_path)
    exit_code = EXIT_OK
    if s.mode == "performance":
        verdict = judge_performance(log, s.scenario)
        record.result = verdict.to_dict()
        record.latency_ns = latency_summary_ns(log)
        valid = verdict.valid
    else:
        outcome = accuracy_check.check(r.model, dataset, run_dir, r.model_rules, r.mlperf_model, log)
        record.accuracy = outcome
        valid = outcome["passed"]
    record.status = STATUS_COMPLETE
    record.ended_at = now_iso()
    record.write(run_dir)
    store.mark_complete(run_dir)
    published = store.publish(run_dir, record, s.results_dir)
    _report(r, record, run_dir, published)
    for page in render_after_run(run_dir, s.results_dir)[:1]:
        say(f"   run page: {page}")
    if s.strict and not valid:
        exit_code = EXIT_INVALID
    return exit_code


def _report(r: ResolvedRun, record: RunRecord, run_dir: Path, published: Path) -> None:
    say(f"== run dir: {run_dir}")
    say(f"   latest {record.mode} copy: {published}")
    if record.mode == "performance":
        res = record.result
        value = res.get("value")
        shown = f"{value:,.2f} {res['unit']}" if value is not None else "no result"
        say(f"== result: {shown}  {'VALID' if res['valid'] else 'INVALID'}")
        for line in res.get("explanation", []):
            say(f"   INVALID because {line}")
        lat = record.latency_ns
        if "p99" in lat:
            say(f"   latency p50 {lat.get('p50', 0) / 1e6:.2f} ms, p99 {lat['p99'] / 1e6:.2f} ms")
    else:
        acc = record.accuracy
        say(f"== accuracy: {acc['report']}")
        targets = ", ".join(f"{k} >= {v:g}" for k, v in acc["targets"].items())
        say(f"   target ({acc['mlperf_model']}): {targets}: {'PASS' if acc['passed'] else 'FAIL'}")
        for note in acc.get("notes", []):
            say(f"   note: {note}")
    if not record.comparable.get("submission_grade", False):
        say("   not comparable with MLPerf results: " + "; ".join(record.comparable["reasons"]))
