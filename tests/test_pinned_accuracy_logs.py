"""The existing models' accuracy logs stay byte-identical across harness changes.

Each case is an Offline accuracy run on generated demo data (fixed seeds, one runner, so the completion
order is LoadGen's issue order). The sha256 of its mlperf_log_accuracy.json was recorded before the
inference-program redesign (tests/data/pinned_accuracy_logs.json); a change in the bytes means a change in
what the harness feeds the network or logs, and must be explained, not re-pinned casually.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_dir_of, run_records

pytestmark = pytest.mark.slow

PINS = json.loads((Path(__file__).parent / "data" / "pinned_accuracy_logs.json").read_text())
CASES = [key for key in PINS if not key.startswith("_")]


@pytest.mark.parametrize("case", CASES)
def test_accuracy_log_bytes_are_unchanged(case: str, tmp_path: Path) -> None:
    model, backend, samples = case.split("/")
    results = tmp_path / "results"
    proc = run_cli(["run", "--model", model, "--scenario", "offline", "--mode", "accuracy", "--backend", backend,
                    "--demo", "--demo-samples", samples, "--target-qps", "50", "--results-dir", str(results)],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (record,) = run_records(results)
    log = run_dir_of(results, record) / "mlperf_log_accuracy.json"
    assert hashlib.sha256(log.read_bytes()).hexdigest() == PINS[case]
