"""The results folder: an unwritable or full one is refused before anything expensive (exit 2, the path
and the fix); a write that fails midway marks the run failed and leaves nothing that looks like a result."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, run_records

NULL = ["--model", "resnet50", "--backend", "null", "--demo", "--demo-samples", "16"]
RUN = ["run", *NULL, "--scenario", "offline", "--min-duration-ms", "300"]


def _refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "knobs:" not in proc.stdout  # refused before the backend, the runners and the plan
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """mount(size) -> a fresh tmpfs of that size (root only; skipped where mounting is not allowed)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        path = tmp_path / f"tmpfs{len(mounted)}"
        path.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_file_as_results_folder(workdir: Path) -> None:
    (workdir / "results").write_text("not a folder\n")
    _refused(run_cli([*RUN, "--results-dir", "results"], workdir), "results is a file, not a folder",
             "--results-dir")


def test_a_results_folder_under_proc(workdir: Path) -> None:
    _refused(run_cli([*RUN, "--results-dir", "/proc/results"], workdir), "/proc", "--results-dir")


def test_a_read_only_results_folder(workdir: Path) -> None:
    results = workdir / "results"
    results.mkdir()
    if os.geteuid() == 0:  # root writes through mode bits: make the folder immutable instead
        if subprocess.run(["chattr", "+i", str(results)], capture_output=True, check=False).returncode != 0:
            pytest.skip("chattr +i is not available here")
    else:
        results.chmod(0o555)
    try:
        _refused(run_cli([*RUN, "--results-dir", "results"], workdir), "cannot write results under results",
                 "--results-dir")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(results)], check=False)
        results.chmod(0o755)
    assert not any(results.iterdir())


def test_a_full_disk_is_refused_before_the_run(workdir: Path, tmpfs: Callable[[str], Path]) -> None:
    small = tmpfs("1m")
    _refused(run_cli([*RUN, "--results-dir", str(small / "results")], workdir), "MiB free under", "free some space")
    assert not any(small.iterdir())


# A write into the run folder that fails at the end (run.json of the complete run), injected in the child.
_FAILING_WRITE = r"""
import errno, sys
from harness.results import record
original = record.RunRecord.write
def write(self, run_dir):
    if self.status == record.STATUS_COMPLETE:
        tmp = run_dir / "run.tmp"
        tmp.write_text('{"half": ')  # what a full disk leaves
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    return original(self, run_dir)
record.RunRecord.write = write
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_failing_midway_marks_the_run_failed(workdir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLPERF_DATA_DIR": str(workdir / "no-data")}
    proc = subprocess.run([sys.executable, "-c", _FAILING_WRITE, *RUN, "--results-dir", "results"], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr, proc.stderr
    (record,) = run_records(workdir / "results")
    assert record["status"] == "failed" and "No space left" in record["error"]
    run_dir = next((workdir / "results").glob("*/*/*/runs/*"))
    assert (run_dir / "INCOMPLETE").is_file() and not (run_dir / "run.tmp").exists()
    assert not list((workdir / "results").glob("*/*/*/performance"))


def test_a_disk_filling_up_during_the_run(workdir: Path, tmpfs: Callable[[str], Path]) -> None:
    """A real full disk: LoadGen's logs are cut; the run is marked failed, never published."""
    disk = tmpfs("70m")
    results = disk / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "MLPERF_DATA_DIR": str(workdir)}
    args = ["run", *NULL, "--scenario", "server", "--min-duration-ms", "3000", "--results-dir", str(results)]
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(results.glob("*/*/*/runs/*/user.conf")):
        time.sleep(0.1)
    with open(disk / "filler", "wb") as filler:  # fill the disk while LoadGen runs
        try:
            while True:
                filler.write(b"\0" * 2**20)
        except OSError:
            pass
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        raise
    assert proc.returncode == 1, out
    assert "Traceback" not in out and "the disk is full" in out, out
    run_dir = next(results.glob("*/*/*/runs/*"))
    assert (run_dir / "INCOMPLETE").is_file() and not (run_dir / "run.tmp").exists()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    assert not list(results.glob("*/*/*/performance*"))
    shutil.rmtree(results, ignore_errors=True)


def test_a_file_the_user_put_in_the_published_copy_is_kept(workdir: Path) -> None:
    """A later run used to delete it without a word when it refreshed performance/run_1."""
    short = ["run", *NULL, "--scenario", "offline", "--min-duration-ms", "0", "--min-query-count", "512",
             "--target-qps", "1000", "--results-dir", "results"]
    run_cli(short, workdir, check=True)
    published = workdir / "results/cpu/resnet50/Offline/performance/run_1"
    (published / "notes.txt").write_text("my notes\n")
    (published / "extra").mkdir()
    (published / "extra" / "plot.png").write_bytes(b"png")
    proc = run_cli(short, workdir, check=True)
    assert "held files the harness did not write (extra/plot.png, notes.txt): moved to" in proc.stdout
    (kept,) = (workdir / "results/cpu/resnet50/Offline/kept").iterdir()
    assert kept.name.startswith("performance_run_1-")
    assert (kept / "notes.txt").read_text() == "my notes\n" and (kept / "extra" / "plot.png").is_file()
    assert not (published / "notes.txt").exists() and (published / "mlperf_log_detail.txt").is_file()
