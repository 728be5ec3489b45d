"""Offline runs of a backend that does not consume its inputs (null) are sized from the harness's own rate
under LoadGen: the configured expected QPS is far below what they do, which made them end before their
minimum duration (INVALID)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli, run_records


@pytest.mark.parametrize("model", ["resnet50", "retinanet"])
def test_a_null_offline_run_lasts_its_minimum_duration(workdir: Path, model: str) -> None:
    results = workdir / "results"
    proc = run_cli(["run", "--model", model, "--scenario", "offline", "--backend", "null", "--demo",
                    "--demo-samples", "8", "--min-duration-ms", "1000", "--results-dir", str(results)], workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "null backend: expected QPS raised" in proc.stdout and "under LoadGen" in proc.stdout
    (record,) = run_records(results)
    assert record["result"]["valid"], record["result"]["explanation"]
    assert record["backend"]["warmup_samples_per_s"] > 0  # the measurement is recorded
    assert record["loadgen"]["plan"]["target_qps"] == pytest.approx(1.5 * record["backend"]["warmup_samples_per_s"])
