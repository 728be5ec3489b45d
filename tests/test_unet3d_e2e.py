"""3D-UNet end to end through the CLI and the real LoadGen on the generated KiTS19-format demo set.

Two demo cases (128^3 and 128x192x128: 3 windows per pass) keep each run to seconds: the reduced
network (random weights on a CPU) takes about a second per window on two cores. Every backend that
offers a network runner runs the same SlidingWindow program; null answers zero logits, so the
program's stitching is all it measures.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.unet3d import MODEL
from tests.conftest import run_cli, run_dir_of, run_records

pytestmark = pytest.mark.slow

DEMO = ["--model", "3d-unet", "--demo", "--demo-samples", "2"]
SHAPES = {0: (128, 128, 128), 1: (128, 192, 128)}


def _run(workdir: Path, *args: str) -> tuple[dict[str, Any], Path]:
    results = workdir / "results"
    proc = run_cli(["run", *DEMO, *args, "--results-dir", str(results)], cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = run_records(results)
    assert len(records) == 1
    record = records[0]
    assert record["status"] == "complete"
    assert record["program"]["name"] == "SlidingWindow"
    return record, run_dir_of(results, record)


def _labels(run_dir: Path) -> dict[int, np.ndarray]:
    log = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    return {e["qsl_idx"]: np.frombuffer(bytes.fromhex(e["data"]), dtype=np.uint8).reshape(SHAPES[e["qsl_idx"]])
            for e in log}


def _check_accuracy(record: dict[str, Any], run_dir: Path, target: float = 0.8531) -> dict[int, np.ndarray]:
    accuracy = record["accuracy"]
    assert accuracy["samples"] == 2 and not accuracy["passed"]
    assert accuracy["targets"] == {"DICE": pytest.approx(target, abs=1e-4)}  # 99% (99.9%) of 0.86170
    assert 0.0 <= accuracy["metrics"]["DICE"] < 0.5
    lines = (run_dir / "accuracy.txt").read_text().splitlines()
    mean, kidney, tumor = (accuracy["metrics"][k] for k in ("DICE", "kidney_DICE", "tumor_DICE"))
    assert lines[-3] == f"Accuracy: mean = {mean:.5f}, kidney = {kidney:.4f}, tumor = {tumor:.4f}"
    assert lines[-2] == "Done!" and lines[-1].startswith("hash=")
    labels = _labels(run_dir)
    assert sorted(labels) == [0, 1]
    assert all(set(np.unique(v)) <= {0, 1, 2} for v in labels.values())
    return labels


def _check_performance(record: dict[str, Any]) -> None:
    assert record["result"]["valid"], record["result"]
    assert record["result"]["unit"] == "samples/s" and record["result"]["value"] > 0


def test_torch_accuracy_and_performance(workdir: Path) -> None:
    # --device cpu: the reduced network on the CPU even on a GPU box (where the full one would finish the
    # short performance run before its minimum duration).
    record, run_dir = _run(workdir, "--scenario", "offline", "--mode", "accuracy", "--backend", "torch",
                           "--device", "cpu")
    assert record["mlperf_model"] == "3d-unet-99" and record["model_info"]["reduced_network"]
    labels = _check_accuracy(record, run_dir)
    assert len(set(np.unique(labels[1]))) > 1  # the random network does not answer one class everywhere
    shutil.rmtree(workdir / "results")
    record, _ = _run(workdir, "--scenario", "offline", "--backend", "torch", "--device", "cpu",
                     "--target-qps", "0.5", "--min-duration-ms", "1000")
    _check_performance(record)


def test_onnxruntime_accuracy_and_performance(workdir: Path) -> None:
    record, run_dir = _run(workdir, "--scenario", "offline", "--mode", "accuracy", "--backend", "onnxruntime")
    assert record["backend"]["name"] == "onnxruntime"
    _check_accuracy(record, run_dir)
    shutil.rmtree(workdir / "results")
    record, _ = _run(workdir, "--scenario", "offline", "--backend", "onnxruntime", "--target-qps", "0.5",
                     "--min-duration-ms", "1000")
    _check_performance(record)


def test_null_accuracy_and_performance(workdir: Path) -> None:
    record, run_dir = _run(workdir, "--model", "3d-unet-99.9", "--scenario", "offline", "--mode", "accuracy",
                           "--backend", "null")
    assert record["mlperf_model"] == "3d-unet-99.9"
    labels = _check_accuracy(record, run_dir, 0.8608)
    assert all(not v.any() for v in labels.values())  # zero logits: background everywhere
    shutil.rmtree(workdir / "results")
    # 14 samples of stitching zero logits: longer than the 0.2-s minimum duration up to 70 samples/s.
    record, _ = _run(workdir, "--scenario", "offline", "--backend", "null", "--target-qps", "60",
                     "--min-duration-ms", "200")
    _check_performance(record)


def test_server_is_refused(workdir: Path) -> None:
    proc = run_cli(["run", *DEMO, "--scenario", "server", "--backend", "null"], cwd=workdir)
    assert proc.returncode != 0
    assert "3d-unet has no Server scenario in MLPerf" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "results").exists()


def test_a_damaged_case_fails_the_run_naming_it(workdir: Path) -> None:
    data = workdir / "kits"
    MODEL().write_demo_data(data, 2)
    (data / "case_00001" / "segmentation.nii.gz").write_bytes(b"not gzip")
    results = workdir / "results"
    proc = run_cli(["run", "--model", "3d-unet", "--data-dir", str(data), "--scenario", "offline",
                    "--backend", "null", "--results-dir", str(results)], cwd=workdir)
    assert proc.returncode != 0
    assert "KiTS19 case case_00001 cannot be used" in proc.stdout + proc.stderr
    assert "segmentation.nii.gz is not a readable NIfTI file" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(r["status"] != "complete" for r in run_records(results))
    assert not list(results.glob("*/*/*/performance"))  # no result copied into place
