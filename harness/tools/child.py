"""Run the harness as a child process (LoadGen reads its config once per process) and read what it left.

Every tool that starts benchmark runs (search, bench-gpu, bench-overhead, selftest-gpu, run_harness, and
later nightly and compliance) goes through ``run_child``: same environment, same way of finding the new
run folder and its run.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import PROJECT_ROOT
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
    proc = subprocess.run(cmd, cwd=cwd, env=child_env(env), text=True, timeout=timeout_s, check=False,
                          capture_output=capture)
    output = (proc.stdout or "") + (proc.stderr or "") if capture else ""
    new = sorted(set(results_dir.glob(RUNS_GLOB)) - before)
    run_dir = new[-1] if new else None
    record = None
    if run_dir is not None and (run_dir / RECORD_NAME).is_file():
        try:
            record = json.loads((run_dir / RECORD_NAME).read_text())
        except (OSError, json.JSONDecodeError):
            record = None
    return ChildRun(proc.returncode, output, run_dir, record)
