"""Shared helpers: run the real CLI in a fresh process (LoadGen loads its config once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(args: list[str], cwd: Path, timeout: float = 600, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m harness <args>` in ``cwd`` with the project on PYTHONPATH; stdout+stderr captured."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
    # Keep tests off any real dataset or weights the developer has under data/.
    full_env.setdefault("MLPERF_DATA_DIR", str(cwd / "no-data"))
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"harness {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_records(results_dir: Path) -> list[dict[str, Any]]:
    """Every run.json under results_dir, oldest first."""
    records = [json.loads(p.read_text()) for p in results_dir.glob("*/*/*/runs/*/run.json")]
    return sorted(records, key=lambda r: r["started_at"])


def run_dir_of(results_dir: Path, record: dict[str, Any]) -> Path:
    return results_dir / record["system"] / record["mlperf_model"] / record["scenario"] / "runs" / record["run_id"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory for a CLI run (no audit.config, no data)."""
    path = tmp_path / "work"
    path.mkdir()
    return path
