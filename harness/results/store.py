"""Where runs live on disk.

results/<system>/<mlperf model>/<Scenario>/
    runs/<run id>/            every run, complete or not (logs, user.conf, run.json)
    performance/run_1/        copy of the latest complete performance run (MLPerf layout)
    accuracy/                 copy of the latest complete accuracy run, with accuracy.txt

A new run never touches an earlier run's folder; the two copies are derived and refreshed.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from harness.results.record import RECORD_NAME, STATUS_COMPLETE, RunRecord, read_record

INCOMPLETE_MARKER = "INCOMPLETE"
# Files copied into the MLPerf-layout folders.
_LOG_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json",
              "accuracy.txt", "user.conf", RECORD_NAME)


def scenario_dir(results_dir: Path, system: str, mlperf_model: str, scenario: str) -> Path:
    return results_dir / system / mlperf_model / scenario


def new_run_dir(results_dir: Path, system: str, mlperf_model: str, scenario: str, mode: str) -> tuple[str, Path]:
    runs = scenario_dir(results_dir, system, mlperf_model, scenario) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        run_id = f"{stamp}-{mode}" + (f"-{n}" if n else "")
        path = runs / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / INCOMPLETE_MARKER).write_text("This run has not finished (or was interrupted). It is not a result.\n")
        return run_id, path
    raise RuntimeError(f"could not allocate a run folder under {runs}")


def mark_complete(run_dir: Path) -> None:
    (run_dir / INCOMPLETE_MARKER).unlink(missing_ok=True)


def publish(run_dir: Path, record: RunRecord, results_dir: Path) -> Path:
    """Copy a complete run's files into performance/run_1/ or accuracy/ (the stable pointers)."""
    base = scenario_dir(results_dir, record.system, record.mlperf_model, record.scenario)
    dest = base / ("performance/run_1" if record.mode == "performance" else "accuracy")
    staging = dest.with_name(dest.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in _LOG_FILES:
        src = run_dir / name
        if src.is_file():
            shutil.copy2(src, staging / name)
    (staging / "SOURCE_RUN").write_text(f"{record.run_id}\n")
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return dest


def iter_runs(results_dir: Path) -> list[RunRecord]:
    """Every run record under results_dir (complete or not), oldest first."""
    records = []
    for path in sorted(results_dir.glob(f"*/*/*/runs/*/{RECORD_NAME}")):
        try:
            records.append(read_record(path.parent))
        except (OSError, ValueError):
            continue
    return sorted(records, key=lambda r: r.started_at)


def latest_complete(results_dir: Path, system: str, mlperf_model: str, scenario: str, mode: str) -> RunRecord | None:
    runs = scenario_dir(results_dir, system, mlperf_model, scenario) / "runs"
    best: RunRecord | None = None
    for path in sorted(runs.glob(f"*/{RECORD_NAME}")):
        try:
            record = read_record(path.parent)
        except (OSError, ValueError):
            continue
        if record.status == STATUS_COMPLETE and record.mode == mode:
            if best is None or record.started_at >= best.started_at:
                best = record
    return best
