"""One run, end to end: resolve, load, build runners and programs, LoadGen StartTest, check, record, publish."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg

from harness import calibrate, console, loadgen_settings, run_checks
from harness.backends import Backend, BackendContext, BackendInfo, Runner, backend_class
from harness.common import say
from harness.errors import HarnessError
from harness.machine import telemetry
from harness.machine.description import systems_dir_for
from harness.progress import Progress
from harness.qsl import SampleStore
from harness.resolve import ResolvedRun, resolve
from harness.results import accuracy as accuracy_check
from harness.results import store
from harness.results.explain import judge_performance
from harness.results.logparse import cut_short, latency_summary_ns, parse_detail_log
from harness.results.pages import render_after_run
from harness.results.record import (
    STATUS_ABORTED,
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    RunRecord,
    now_iso,
)
from harness.run_record import new_record
from harness.scenarios import sut_for_programs
from harness.spec import RunSpec
from models.base import Dataset
from models.program import Program, ProgramSetup, SinglePass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 3
EXIT_ABORTED = 4
EXIT_INTERRUPTED = 130


class RunInterrupted(Exception):
    pass


def _install_signal_handlers() -> Callable[[], None]:
    def on_term(signum: int, frame: object) -> None:
        raise RunInterrupted(signal.Signals(signum).name)

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
    programs: list[Program]
    samples: SampleStore
    info: BackendInfo
    measured_qps: float | None


def execute(spec: RunSpec) -> int:
    """Run one benchmark; return the exit code. Must run in a fresh process (LoadGen loads its config once).

    Bad input (an unwritable or full results folder included) fails before anything expensive and before
    a run folder exists; once LoadGen starts, the folder is marked incomplete until the run finishes, and
    an interrupted or failed run (a write that fails midway included) stays marked.
    """
    loadgen_settings.check_no_audit_config(Path.cwd())
    r = resolve(spec)
    runs_dir = run_checks.check_results_dir(r)
    run_checks.check_other_runs(r)
    console.banner(r)
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
    run_checks.check_plan(r, plan, runs_dir, prepared.dataset.total_count)
    try:
        run_id, run_dir = store.new_run_dir(s.results_dir, r.system.name, r.mlperf_model, s.scenario,
                                            s.compliance_test or s.mode)
    except OSError as exc:
        raise HarnessError(f"cannot create a run folder under {runs_dir}: {exc.strerror or exc}",
                           "choose a writable folder with --results-dir") from None
    record = new_record(r, prepared.dataset, prepared.info, prepared.measured_qps, plan, run_id)
    restore_signals = _install_signal_handlers()
    try:
        (run_dir / "user.conf").write_text(record.loadgen["user_conf"])
        if record.loadgen.get("audit_config"):  # a compliance test: LoadGen reads it from this folder only
            (run_dir / loadgen_settings.AUDIT_CONFIG).write_text(record.loadgen["audit_config"])
        record.write(run_dir)
        console.plan_banner(r, plan, run_dir, record.comparable)
        return _run_loadgen(r, prepared, plan, run_dir, record)
    except (KeyboardInterrupt, RunInterrupted) as exc:
        _abort(record, run_dir, STATUS_INTERRUPTED, f"interrupted ({str(exc) or 'Ctrl-C, SIGINT'})")
        say(f"\n!! run interrupted: {run_dir} is marked incomplete and is not a result")
        _hard_exit(EXIT_INTERRUPTED)
    except HarnessError as exc:
        _abort(record, run_dir, STATUS_FAILED, str(exc))
        raise
    except OSError as exc:  # a write into the run folder or the published copies failed midway
        error = store.write_failure(exc, run_dir)
        _abort(record, run_dir, STATUS_FAILED, error.message)
        raise error from None
    except BaseException as exc:
        _abort(record, run_dir, STATUS_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        restore_signals()
    return EXIT_FAILED


def backend_context(r: ResolvedRun, dataset: Dataset | None) -> BackendContext:
    """What the run tells the backend (its own knobs travel separately, as r.knobs.backend)."""
    s, k = r.spec, r.knobs.run
    max_batch = r.model.program.runner_batch_size(k.batch_size, r.knobs.model)
    return BackendContext(kind=r.runner_kind, device=s.device, precision=k.precision, max_batch_size=max_batch,
                          streams_per_device=k.streams_per_device, cache_dir=s.cache_dir,
                          engine_dir=s.cache_dir.parent / "engines", calibration=dataset)


def _prepare(r: ResolvedRun) -> Prepared:
    s, model = r.spec, r.model
    dataset = model.open_dataset(r.data_dir, s.preprocessed_dir)
    backend = backend_class(r.backend_name)(model, backend_context(r, dataset), r.knobs.backend)
    runners = backend.runners()
    info = backend.info()
    for note in info.notes:
        say(f"!! {note}")
    samples = SampleStore(dataset, model.sample_inputs, model.ragged)
    setup = ProgramSetup(r.knobs.run.batch_size, backend.consumes_inputs, r.knobs.model)
    programs = [model.program(model, runner, samples, setup) for runner in runners]
    measured = None
    if backend.consumes_inputs or not isinstance(programs[0], SinglePass):
        started = time.monotonic()
        for program in programs:
            program.warmup()
        warm_s = time.monotonic() - started
        note = ""
        if s.mode == "performance":  # the rate sizes demo Offline runs and is recorded; accuracy needs none
            rate = programs[0].measure_rate()
            if rate is not None:
                measured = rate * len(programs)
                count = min(r.knobs.run.batch_size, dataset.total_count)
                single = isinstance(programs[0], SinglePass)
                what = f"batches of {count} suggest" if single else "a warm-up pass suggests"
                note = f"; {what} ~{measured:,.1f} samples/s"
        say(f"   warm-up: {len(runners)} runner(s) on {', '.join(info.devices)} in {warm_s:.1f} s{note}")
    elif s.scenario == "Offline" and s.mode == "performance" and s.target_qps is None:
        measured = calibrate.offline_rate(model.name, programs, samples, r.knobs.run.batch_size,
                                          r.model_rules.performance_sample_count)
        if measured is not None:
            say(f"   {backend.name} backend: the harness alone does ~{measured:,.0f} samples/s under LoadGen "
                "(two short Offline tests)")
    return Prepared(dataset, backend, runners, programs, samples, info, measured)


def _plan(r: ResolvedRun, prepared: Prepared) -> loadgen_settings.LoadGenPlan:
    s = r.spec
    target_qps = r.target_qps
    # A demo Offline run that finishes before its minimum duration is INVALID for no useful reason:
    # size it from the warm-up measurement unless the user set --target-qps. A backend that does not
    # consume its inputs (null) is sized the same way from the harness's own rate under LoadGen, which the
    # larger real query may still exceed: it gets the margin whenever the configured QPS lacks it.
    measured = prepared.measured_qps
    consumes = prepared.backend.consumes_inputs
    if (s.scenario == "Offline" and s.mode == "performance" and s.target_qps is None and measured is not None
            and ((r.demo and measured > target_qps) or (not consumes and 1.5 * measured > target_qps))):
        what = "demo run" if consumes else f"{prepared.backend.name} backend"
        source = "warm-up measurement" if consumes else "measured under LoadGen"
        say(f"!! {what}: expected QPS raised from {target_qps:g} to {1.5 * measured:.4g} ({source}) "
            "so the run lasts its minimum duration")
        target_qps = 1.5 * measured
    return loadgen_settings.plan_run(
        r.rules, r.model_rules, s.scenario, s.mode, target_qps, prepared.dataset.total_count, fast=s.fast,
        demo=r.demo, min_duration_ms=s.min_duration_ms, min_query_count=s.min_query_count,
        target_latency_ms=s.target_latency_ms, server_coalesce_queries=r.knobs.run.server_coalesce_queries,
        compliance_test=s.compliance_test)


def _abort(record: RunRecord, run_dir: Path, status: str, why: str) -> None:
    """Mark the run as not a result. On a full disk the INCOMPLETE marker (written when the folder was made)
    stays; LoadGen's cut logs are dropped if that is what it takes to record why."""
    record.status = status
    record.error = why
    record.ended_at = now_iso()
    store.discard_partial_copies(run_dir)
    try:
        (run_dir / store.INCOMPLETE_MARKER).write_text(f"This run is {status}: {why}\nIt is not a result.\n")
    except OSError:
        pass
    try:
        record.write(run_dir)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return
        dropped = store.drop_loadgen_logs(run_dir)
        record.error = f"{why} (LoadGen's cut logs were removed to record this: {', '.join(dropped) or 'none'})"
        try:
            record.write(run_dir)
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
    samples, runners, programs = prepared.samples, prepared.runners, prepared.programs
    sut, completer = sut_for_programs(s.scenario, programs, samples, r.model.name, r.knobs.run.batch_size,
                                      r.knobs.run.batch_timeout_us)
    slots = sut.slots
    settings = loadgen_settings.make_test_settings(plan, run_dir / "user.conf")
    sut_handle = lg.ConstructFastSUT(sut.issue, sut.flush)
    total = prepared.dataset.total_count
    performance_count = plan.performance_sample_count or r.model_rules.performance_sample_count
    qsl_handle = lg.ConstructQSL(total, min(performance_count, total), samples.load, samples.unload)
    progress = Progress(lambda: (sut.issued, completer.completed))
    started = time.monotonic()
    sampler = telemetry.start(run_dir, r.host, prepared.info.devices)
    thread = _start_test(sut_handle, qsl_handle, settings, loadgen_settings.log_settings(run_dir, s.mode),
                         run_dir / loadgen_settings.AUDIT_CONFIG)
    behind_limit = s.abort_when_behind_s if s.scenario == "Server" and s.mode == "performance" else None
    while thread.is_alive():
        thread.join(0.2)
        progress.tick()
        problem = next((p for p in (slot.stalled() for slot in slots) if p), None)
        if completer.error is not None or problem:
            progress.finish()
            text = completer.error_text or str(problem)
            _abort(record, run_dir, STATUS_FAILED, text)
            say(f"!! the run failed (model {r.model.name}, program {type(programs[0]).__name__}):\n{text}")
            _hard_exit(EXIT_FAILED)
        if behind_limit is not None:
            backlog = run_checks.server_backlog(plan.target_qps, getattr(sut, "first_issue_s", None), sut.issued,
                                     completer.completed, time.monotonic())
            if backlog / plan.target_qps > behind_limit:
                progress.finish()
                why = (f"clearly INVALID: {backlog:,} queries due but not answered (LoadGen's schedule against "
                       f"what it issued and the SUT completed), {backlog / plan.target_qps:.1f} s of work at "
                       f"{plan.target_qps:,.0f} queries/s (--abort-when-behind {behind_limit:g})")
                record.result = {"valid": False, "value": None, "unit": "queries/s", "aborted": True,
                                 "explanation": [why]}
                _abort(record, run_dir, STATUS_ABORTED, why)
                say(f"!! run stopped early, {why}")
                _hard_exit(EXIT_ABORTED)
    progress.finish()
    elapsed = time.monotonic() - started
    record.telemetry = sampler.stop(samples=completer.completed)
    sut.stop()
    lg.DestroyQSL(qsl_handle)
    lg.DestroyFastSUT(sut_handle)
    for program in programs:
        program.close()
    for runner in runners:
        runner.close()
    record.harness_stats = {"wall_s": round(elapsed, 3), "completion_calls": completer.calls,
                            "samples": completer.completed}
    return _finish(r, run_dir, record, prepared.dataset)


def _finish(r: ResolvedRun, run_dir: Path, record: RunRecord, dataset: Any) -> int:
    s = r.spec
    detail_path = run_dir / "mlperf_log_detail.txt"
    if not detail_path.is_file():
        raise HarnessError(f"LoadGen wrote no {detail_path}", "check disk space and permissions on --results-dir")
    log = parse_detail_log(detail_path)
    cut = cut_short(log, s.mode)
    if cut is not None:
        free = shutil.disk_usage(run_dir).free
        full = f" ({free / 2**20:.1f} MiB free there: the disk is full)" if free < 2**20 else ""
        raise HarnessError(f"LoadGen's {detail_path} {cut}{full}",
                           f"check free space and permissions under {run_dir.parent}", exit_code=EXIT_FAILED)
    record.loadgen["effective"] = run_checks.effective_settings(log)
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
    run_checks.note_overlaps(record, s.results_dir)
    record.status = STATUS_COMPLETE
    record.ended_at = now_iso()
    record.write(run_dir)
    store.mark_complete(run_dir)
    published = store.publish(run_dir, record, s.results_dir)
    console.report(record, run_dir, published)
    for page in render_after_run(run_dir, s.results_dir, systems_dir_for(s.results_dir))[:1]:
        say(f"   run page: {page}")
    if s.strict and not valid:
        exit_code = EXIT_INVALID
    return exit_code
