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

import errno
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from harness.common import say
from harness.errors import HarnessError
from harness.results.accuracy import ACCURACY_LOG, ACCURACY_TXT
from harness.results.record import (
    RECORD_NAME,
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    RunRecord,
    died_text,
    now_iso,
    owner_alive,
    read_record,
)

INCOMPLETE_MARKER = "INCOMPLETE"
# Files copied into the MLPerf-layout folders: LoadGen's logs (and accuracy.txt), as the checker lists them.
PERFORMANCE_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_FILES = (*PERFORMANCE_FILES, ACCURACY_TXT, ACCURACY_LOG)


def scenario_dir(results_dir: Path, system: str, mlperf_model: str, scenario: str) -> Path:
    return results_dir / system / mlperf_model / scenario


# What any run writes into its folder and the published copies (logs, run.json, pages), with room to spare.
MIN_FREE_BYTES = 64 * 1024 * 1024
# Errors that mean the results folder cannot take the run's files.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                          errno.ENOTDIR, errno.EISDIR, errno.EFBIG})
_WRITABLE_FIX = "make it a writable folder, or choose another one with --results-dir DIR"


def check_writable(runs_dir: Path, need_bytes: int = MIN_FREE_BYTES) -> None:
    """Before anything expensive: the deepest existing folder of ``runs_dir`` must be a folder this process
    can create files in, with ``need_bytes`` free. Creates nothing that stays behind."""
    existing = _existing_ancestor(runs_dir)
    if not existing.is_dir():
        raise HarnessError(f"cannot write results under {runs_dir}: {existing} is a file, not a folder",
                           _WRITABLE_FIX)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".harness-write-check-"):
            pass
    except OSError as exc:
        raise HarnessError(f"cannot write results under {runs_dir}: creating a file in {existing} fails "
                           f"({exc.strerror or exc})", _WRITABLE_FIX) from None
    check_free_space(existing, need_bytes)


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself, or its deepest folder that exists (what the disk space of a folder to be made is)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(folder: Path, need_bytes: int) -> None:
    existing = _existing_ancestor(folder)
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return
    if free < need_bytes:
        raise HarnessError(f"only {free / 2**20:.1f} MiB free under {existing}; this run writes up to about "
                           f"{need_bytes / 2**20:.0f} MiB", "free some space, or choose another folder with "
                                                           "--results-dir")


def write_failure(exc: OSError, run_dir: Path) -> HarnessError:
    """A write that failed once the run folder existed, as the error the user sees."""
    where = exc.filename or run_dir
    fix = (f"free space or fix permissions under {run_dir.parent}, or choose another folder with --results-dir"
           if exc.errno in WRITE_ERRNOS else "see the message above")
    return HarnessError(f"the run failed writing {where}: {exc.strerror or exc}; {run_dir} is marked failed",
                        fix, exit_code=1)


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
    set_aside_user_files(dest, set(files))
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return dest


# Every name the harness has written into performance/run_1/ and accuracy/ (earlier versions included):
# anything else there is the user's.
_HARNESS_NAMES = frozenset({*PERFORMANCE_FILES, *ACCURACY_FILES, "user.conf", RECORD_NAME, "SOURCE_RUN",
                            "mlperf_log_trace.json"})


def set_aside_user_files(dest: Path, written: set[str] | frozenset[str] = frozenset()) -> Path | None:
    """Before a published copy is replaced: files in it that the harness did not write (``written``: the
    relative paths this copy gets) are moved to <scenario>/kept/<copy>-<time>/ and the move is printed,
    never deleted; where they went, if anywhere."""
    if not dest.is_dir():
        return None
    known = _HARNESS_NAMES | set(written)
    foreign = [p for p in sorted(dest.rglob("*")) if p.is_file() and p.relative_to(dest).as_posix() not in known]
    if not foreign:
        return None
    scenario = dest.parent.parent if dest.parent.name in ("performance", "compliance") else dest.parent
    label = dest.relative_to(scenario).as_posix().replace("/", "_")
    kept = scenario / "kept" / f"{label}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    for path in foreign:
        target = kept / path.relative_to(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
    names = ", ".join(p.relative_to(dest).as_posix() for p in foreign)
    say(f"!! {dest} held files the harness did not write ({names}): moved to {kept} before replacing it")
    return kept


def discard_partial_copies(run_dir: Path) -> None:
    """Half-made published copies (``*.staging``) a failed run leaves beside performance/ and accuracy/."""
    base = run_dir.parent.parent
    for staging in [*base.glob("*.staging"), *base.glob("*/*.staging")]:
        shutil.rmtree(staging, ignore_errors=True)


def drop_loadgen_logs(run_dir: Path) -> list[str]:
    """Remove LoadGen's logs of a failed run (to make room on a full disk); the names removed."""
    dropped = []
    for path in sorted(run_dir.glob("mlperf_log_*")):
        try:
            path.unlink()
            dropped.append(path.name)
        except OSError:
            pass
    return dropped


def unfinished_runs(results_dir: Path) -> list[tuple[Path, RunRecord]]:
    """Run folders still marked INCOMPLETE whose record says running (cheap: only those records are read)."""
    out = []
    for marker in sorted(results_dir.glob(f"*/*/*/runs/*/{INCOMPLETE_MARKER}")):
        try:
            record = read_record(marker.parent)
        except (OSError, ValueError, TypeError):
            continue
        if record.status == STATUS_RUNNING:
            out.append((marker.parent, record))
    return out


def sort_unfinished_runs(results_dir: Path) -> tuple[list[Path], list[tuple[Path, RunRecord]]]:
    """One pass over the runs left "running": those whose process (of this host) is gone are marked
    interrupted (their folders, first); those whose process runs now are returned (second)."""
    marked, active = [], []
    for run_dir, record in unfinished_runs(results_dir):
        alive = owner_alive(record)
        if alive:
            active.append((run_dir, record))
        if alive is not False:
            continue
        record.status = STATUS_INTERRUPTED
        record.error = died_text(record)
        try:
            record.write(run_dir)
            (run_dir / INCOMPLETE_MARKER).write_text(f"This run is interrupted: {record.error}\nIt is not a result.\n")
        except OSError:
            continue
        marked.append(run_dir)
    return marked, active


def overlapping_runs(results_dir: Path, record: RunRecord) -> list[Path]:
    """Other runs of this results folder (on this host) that ran at some time during ``record``'s run."""
    ours = (record.started_at, now_iso())
    since = datetime.fromisoformat(record.started_at).timestamp()
    out = []
    for path in sorted(results_dir.glob(f"*/*/*/runs/*/{RECORD_NAME}")):
        try:  # a record last written before this run started cannot overlap it
            if path.parent.name == record.run_id or path.stat().st_mtime < since:
                continue
        except OSError:
            continue
        try:
            other = read_record(path.parent)
        except (OSError, ValueError, TypeError):
            continue
        if other.host is not None and other.host != record.host:
            continue
        end = other.ended_at or (ours[1] if other.status == STATUS_RUNNING and owner_alive(other) else None)
        if end is not None and other.started_at < ours[1] and end > ours[0]:
            out.append(path.parent)
    return out


def complete_runs(cell_dir: Path) -> list[tuple[Path, RunRecord]]:
    """The complete runs of one results/<system>/<benchmark>/<Scenario> folder (not marked INCOMPLETE),
    newest first, with their folders: one read of the cell for everything that picks runs from it."""
    found = []
    for path in (cell_dir / "runs").glob(f"*/{RECORD_NAME}"):
        try:
            record = read_record(path.parent)
        except (OSError, ValueError):
            continue
        if record.status == STATUS_COMPLETE and not (path.parent / INCOMPLETE_MARKER).exists():
            found.append((path.parent, record))
    found.sort(key=lambda pair: (pair[1].started_at, pair[0].name), reverse=True)
    return found


def newest(runs: list[tuple[Path, RunRecord]], mode: str, compliance: str | None = None) -> RunRecord | None:
    """From complete_runs: the newest in ``mode`` that is an ordinary run, or a run of compliance test
    ``compliance`` when given (compliance runs never stand for the cell's performance run)."""
    return next((r for _, r in runs if r.mode == mode and r.compliance == compliance), None)


def latest_complete(results_dir: Path, system: str, mlperf_model: str, scenario: str, mode: str,
                    compliance: str | None = None) -> RunRecord | None:
    """The newest complete run of a cell in ``mode`` (see newest)."""
    return newest(complete_runs(scenario_dir(results_dir, system, mlperf_model, scenario)), mode, compliance)
