"""Run the harness as a child process (LoadGen reads its config once per process) and read what it left.

Every tool that starts benchmark runs (search, bench-gpu, bench-overhead, selftest-gpu, run_harness, and
later nightly and compliance) goes through ``run_child``: same environment, same way of finding the new
run folder and its run.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import PROJECT_ROOT
from harness.errors import HarnessError
from harness.results.record import RECORD_NAME

RUNS_GLOB = "*/*/*/runs/*"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child harness process: this project importable, output unbuffered."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT) + (os.pathsep + path if path else ""),
            "PYTHONUNBUFFERED": "1", **(extra or {})}


@dataclass
class ChildRun:
    """What one child `harness run` left: its exit code, output (when captured), run folder and record."""

    returncode: int
    output: str
    run_dir: Path | None
    record: dict[str, Any] | None

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


def run_child(run_args: Sequence[str], results_dir: Path, *, capture: bool = True, cwd: Path | None = None,
              env: dict[str, str] | None = None, timeout_s: float | None = None,
              command: str = "run") -> ChildRun:
    """``python -m harness <command> <run_args> --results-dir <results_dir>`` in a fresh process; the run
    folder it created (the newest new one under results_dir) and its run.json, when there is one."""
    results_dir = Path(results_dir)
    before = set(results_dir.glob(RUNS_GLOB))
    cmd = [sys.executable, "-m", "harness", command, *run_args, "--results-dir", str(results_dir)]
    pipe = subprocess.PIPE if capture else None
    # Its own session: Ctrl-C at the terminal reaches this process only, which forwards it once.
    proc = subprocess.Popen(cmd, cwd=cwd, env=child_env(env), text=True, stdout=pipe, stderr=pipe,
                            start_new_session=True)
    with _forwarding_signals(proc) as received:
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    output = (stdout or "") + (stderr or "") if capture else ""
    new = sorted(set(results_dir.glob(RUNS_GLOB)) - before)
    run_dir = new[-1] if new else None
    if received:
        raise ChildInterrupted(received[0], run_dir)
    record = None
    if run_dir is not None and (run_dir / RECORD_NAME).is_file():
        try:
            record = json.loads((run_dir / RECORD_NAME).read_text())
        except (OSError, json.JSONDecodeError):
            record = None
    return ChildRun(proc.returncode, output, run_dir, record)


FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ChildInterrupted(HarnessError):
    """This process was told to stop while a child run ran: the child got the signal too, and the tool
    starts nothing after it."""

    def __init__(self, signum: int, run_dir: Path | None) -> None:
        name = signal.Signals(signum).name
        where = f" ({run_dir} is marked interrupted)" if run_dir is not None else ""
        super().__init__(f"{name} received: the child run was stopped{where} and no further run is started",
                         exit_code=128 + signum)
        self.signum = signum


@contextlib.contextmanager
def _forwarding_signals(proc: subprocess.Popen[str]) -> Iterator[list[int]]:
    """While the child runs, SIGINT / SIGTERM / SIGHUP to this process go to the child (a second one as
    SIGKILL); the signals received are listed in what this yields."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def forward(signum: int, frame: object) -> None:
        received.append(signum)
        try:
            proc.send_signal(signum if len(received) == 1 else signal.SIGKILL)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
