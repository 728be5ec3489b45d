"""Where runs live on disk.

results/<system>/<mlperf model>/<Scenario>/
    runs/<run id>/            every run, complete or not (logs, user.conf, run.json); compliance runs too
    performance/run_1/        copy of the latest complete performance run's LoadGen logs (MLPerf layout)
    accuracy/                 copy of the latest complete accuracy run's LoadGen logs and accuracy.txt
    compliance/TEST0x/        the latest verified compliance run, as MLCommons' run_verification lays it out

A new run never touches an earlier run's folder; the copies are derived and refreshed, and hold only
what an MLPerf submission holds there (the run folder keeps the rest).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from harness.results.record import RECORD_NAME, STATUS_COMPLETE, RunRecord, read_record

INCOMPLETE_MARKER = "INCOMPLETE"
# Files copied into the MLPerf-layout folders: LoadGen's logs (and accuracy.txt), as the checker lists them.
PERFORMANCE_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt", "mlperf_log_accuracy.json")


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


def publish(run_dir: Path, record: RunRecord, results_dir: Path) -> Path | None:
    """Copy a complete run's LoadGen files into performance/run_1/ or accuracy/ (the stable pointers).
    A compliance run is published by `harness compliance` once verified (publish_compliance)."""
    if record.compliance:
        return None
    base = scenario_dir(results_dir, record.system, record.mlperf_model, record.scenario)
    if record.mode == "performance":
        return replace_dir(base / "performance" / "run_1", {name: run_dir / name for name in PERFORMANCE_FILES})
    return replace_dir(base / "accuracy", {name: run_dir / name for name in ACCURACY_FILES})


def publish_compliance(record: RunRecord, results_dir: Path, files: dict[str, Path]) -> Path:
    """compliance/<test>/ of a verified compliance run: ``files`` maps paths inside it to sources."""
    base = scenario_dir(results_dir, record.system, record.mlperf_model, record.scenario)
    return replace_dir(base / "compliance" / str(record.compliance), files)


def replace_dir(dest: Path, files: dict[str, Path]) -> Path:
    """Make ``dest`` hold exactly ``files`` (relative path -> source; missing sources are skipped),
    built aside and swapped in, so a reader never sees a half-written folder."""
    staging = dest.with_name(dest.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name, src in files.items():
        if src.is_file():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, staging / name)
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


def latest_complete(results_dir: Path, system: str, mlperf_model: str, scenario: str, mode: str,
                    compliance: str | None = None) -> RunRecord | None:
    """The newest complete run of a cell in ``mode``: an ordinary run, or a run of compliance test
    ``compliance`` when given (compliance runs never stand for the cell's performance run)."""
    runs = scenario_dir(results_dir, system, mlperf_model, scenario) / "runs"
    best: RunRecord | None = None
    for path in sorted(runs.glob(f"*/{RECORD_NAME}")):
        try:
            record = read_record(path.parent)
        except (OSError, ValueError):
            continue
        if (record.status == STATUS_COMPLETE and record.mode == mode and record.compliance == compliance
                and not (path.parent / INCOMPLETE_MARKER).exists()):
            if best is None or record.started_at >= best.started_at:
                best = record
    return best
