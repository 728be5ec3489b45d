"""RetinaNet end to end through the CLI and the real LoadGen on the generated demo set.

The network is the real one (800x800, random weights): 2-4 s per image on two CPU cores, so
the runs are kept to a few samples. A Server run that LoadGen can call VALID needs ~460+
queries (early stopping at p99) within the latency bound, hours of CPU time for this network;
the VALID Server run therefore uses the null backend (everything but the inference: QSL, SUT,
postprocess, LoadGen), and the real network's Server run is the (short) accuracy run, whose logs and
record are checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import run_cli, run_dir_of, run_records

pytestmark = pytest.mark.slow

DEMO = ["--model", "retinanet", "--demo", "--demo-samples", "2"]


def _run(workdir: Path, *args: str) -> tuple[dict[str, Any], Path]:
    results = workdir / "results"
    proc = run_cli(["run", *DEMO, *args, "--results-dir", str(results)], cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = run_records(results)
    assert len(records) == 1
    record = records[0]
    assert record["status"] == "complete"
    return record, run_dir_of(results, record)


def _logged_records(run_dir: Path) -> dict[int, np.ndarray]:
    log = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    return {entry["qsl_idx"]: np.frombuffer(bytes.fromhex(entry["data"]), dtype=np.float32).reshape(-1, 7)
            for entry in log}


def _check_accuracy_run(record: dict[str, Any], run_dir: Path) -> None:
    accuracy = record["accuracy"]
    assert accuracy["samples"] == 2 and not accuracy["passed"]  # random weights on demo data
    assert 0.0 <= accuracy["metrics"]["mAP"] < 5.0
    text = (run_dir / "accuracy.txt").read_text().splitlines()
    assert text[-2].startswith("mAP=") and text[-1].startswith("hash=")
    logged = _logged_records(run_dir)
    assert sorted(logged) == [0, 1]
    for idx, rows in logged.items():
        assert 0 < len(rows) <= 1000  # the untrained network does detect, up to the cap
        assert np.all(rows[:, 0] == idx)
        assert np.all((rows[:, 1:5] >= 0) & (rows[:, 1:5] <= 1))
        assert np.all(rows[:, 3] >= rows[:, 1]) and np.all(rows[:, 4] >= rows[:, 2])  # ymax >= ymin, xmax >= xmin
        assert np.all(rows[:, 5] > 0.05) and np.all(np.diff(rows[:, 5]) <= 0)  # above threshold, best first
        assert np.all((rows[:, 6] >= 0) & (rows[:, 6] < 264) & (rows[:, 6] == np.round(rows[:, 6])))


def test_offline_accuracy_onnxruntime(workdir: Path) -> None:
    record, run_dir = _run(workdir, "--scenario", "offline", "--mode", "accuracy", "--backend", "onnxruntime")
    assert record["backend"]["name"] == "onnxruntime" and record["mlperf_model"] == "retinanet"
    _check_accuracy_run(record, run_dir)


def test_server_accuracy_onnxruntime(workdir: Path) -> None:
    """Also the real-network Server run: its detail log and record are those of a Server test."""
    record, run_dir = _run(workdir, "--scenario", "server", "--mode", "accuracy", "--backend", "onnxruntime",
                           "--target-qps", "1")
    _check_accuracy_run(record, run_dir)
    detail = (run_dir / "mlperf_log_detail.txt").read_text()
    assert '"key": "effective_scenario", "value": "Server"' in detail
    assert '"key": "effective_target_latency_ns", "value": 100000000' in detail


def test_offline_performance_torch(workdir: Path) -> None:
    record, run_dir = _run(workdir, "--scenario", "offline", "--backend", "torch", "--target-qps", "0.5",
                           "--min-duration-ms", "1000")
    assert record["backend"]["name"] == "torch"
    assert record["result"]["unit"] == "samples/s" and record["result"]["value"] > 0
    assert record["harness_stats"]["samples"] >= 1
    summary = (run_dir / "mlperf_log_summary.txt").read_text()
    assert "Scenario : Offline" in summary and "Mode     : PerformanceOnly" in summary


def test_server_performance_null_backend_is_valid(workdir: Path) -> None:
    record, run_dir = _run(workdir, "--scenario", "server", "--backend", "null")
    result = record["result"]
    assert result["valid"], result["explanation"]
    assert result["unit"] == "queries/s" and result["value"] > 1000
    assert record["harness_stats"]["samples"] >= 460  # enough for LoadGen's early stopping at p99
