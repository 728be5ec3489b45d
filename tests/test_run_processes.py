"""Runs and the processes behind them: a run whose process died (kill -9) is interrupted, never "running"
forever; runs sharing a results folder at the same time are told about each other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.results.record import RunRecord, owner_alive, this_host
from tests.conftest import ROOT, run_cli, run_records

NULL = ["--model", "resnet50", "--backend", "null", "--demo", "--demo-samples", "16"]


def _start(args: list[str], workdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "MLPERF_DATA_DIR": str(workdir)}
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=workdir, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for_run_folder(results: Path, count: int = 1, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len(list(results.glob("*/*/*/runs/*/user.conf"))) < count:
        assert time.monotonic() < deadline, "no run folder appeared"
        time.sleep(0.1)


def test_a_process_that_is_gone_is_told_from_one_that_runs() -> None:
    record = RunRecord("r", "resnet50", "resnet50", "Offline", "performance", "cpu", pid=os.getpid(),
                       host=this_host())
    assert owner_alive(record) is True
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    record.pid = int(dead.stdout)
    assert owner_alive(record) is False
    record.host = "another-host"
    assert owner_alive(record) is None  # cannot tell: left as it is
    record.pid, record.host = 1, this_host()  # pid 1 exists and started before the run
    assert owner_alive(record) is True
    record.started_at = "2000-01-01T00:00:00+00:00"  # a process newer than the run took over its pid
    assert owner_alive(record) is False


def test_a_killed_run_is_shown_and_marked_interrupted(workdir: Path) -> None:
    results = workdir / "results"
    proc = _start(["run", *NULL, "--scenario", "server", "--min-duration-ms", "600000", "--results-dir",
                   str(results)], workdir)
    _wait_for_run_folder(results)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    (record,) = run_records(results)
    assert record["status"] == "running" and record["pid"] == proc.pid and record["host"] == this_host()

    run_cli(["report", "--results-dir", str(results)], workdir, check=True)
    index = (results / "index.html").read_text()
    assert "INTERRUPTED" in index and "RUNNING" not in index
    run_page = next(results.glob("*/*/*/runs/*/run.html")).read_text()
    assert f"pid {proc.pid}" in run_page

    later = run_cli(["run", *NULL, "--scenario", "offline", "--min-duration-ms", "200", "--results-dir",
                     str(results)], workdir, check=True)
    assert "marked interrupted" in later.stdout + later.stderr
    killed = run_records(results)[0]
    assert killed["status"] == "interrupted" and f"pid {proc.pid}" in killed["error"]
    assert (results / "cpu/resnet50/Server/runs" / killed["run_id"] / "INCOMPLETE").is_file()


def test_runs_at_the_same_time_in_one_results_folder_warn(workdir: Path) -> None:
    results = workdir / "results"
    first = _start(["run", *NULL, "--scenario", "server", "--min-duration-ms", "3000", "--results-dir",
                    str(results)], workdir)
    _wait_for_run_folder(results)
    second = run_cli(["run", *NULL, "--scenario", "offline", "--min-duration-ms", "300", "--results-dir",
                      str(results)], workdir, check=True)
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert "another run was active in this results folder" in second.stdout + second.stderr
    assert "another run was active in this results folder" in out
    records = {r["scenario"]: r for r in run_records(results)}
    for scenario, other in (("Server", "Offline"), ("Offline", "Server")):
        warnings = [w for w in records[scenario]["warnings"] if "another run was active" in w]
        assert len(warnings) == 1 and f"/{other}/runs/" in warnings[0], records[scenario]["warnings"]
    assert (results / "cpu/resnet50/Offline/performance/run_1/mlperf_log_detail.txt").is_file()  # a result still


def test_sigterm_to_run_harness_stops_its_child_and_every_later_run(workdir: Path) -> None:
    """The child used to keep running and publish, and the next scenario never ran."""
    results = workdir / "results"
    proc = _start(["run_harness", "--benchmarks=resnet50", "--scenarios=server,offline", "--min_duration=600000",
                   f"--log_dir={results}", *NULL[2:]], workdir)
    _wait_for_run_folder(results)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "SIGTERM received: the child run was stopped" in out and "Traceback" not in out
    (record,) = run_records(results)  # the offline run never started
    assert record["scenario"] == "Server" and record["status"] == "interrupted"
    assert record["error"] == "interrupted (SIGTERM)"
    assert not list(results.glob("*/*/*/performance"))
    assert owner_alive(RunRecord.from_dict(record)) is False  # the child is gone
