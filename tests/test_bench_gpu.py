"""bench-gpu: the published per-GPU reference lookup, and the command end to end (on the CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.machine.host import detect_host
from harness.results.published import published_per_gpu
from tests.conftest import run_cli


def test_reference_is_the_newest_published_result_per_gpu() -> None:
    h100 = published_per_gpu("NVIDIA H100-SXM-80GB", "resnet50", "Offline")
    assert h100 is not None and h100.round == "v4.0" and h100.per_accelerator == pytest.approx(88714.3)
    eight = published_per_gpu("NVIDIA H100-SXM-80GB", "resnet50", "Offline", gpu_count=8)
    # Eight GPUs: the best per-GPU result of the newest round's 8-GPU systems.
    assert eight is not None and eight.round == "v4.1" and eight.per_accelerator == pytest.approx(710521 / 8)
    server = published_per_gpu("NVIDIA H100-SXM-80GB", "resnet50", "Server")
    assert server is not None and server.per_accelerator == pytest.approx(72976.91)
    l40s = published_per_gpu("NVIDIA L40S", "bert-99", "Offline", gpu_count=3)
    assert l40s is not None and l40s.per_accelerator == pytest.approx(9480.82 / 3)
    assert published_per_gpu("NVIDIA RTX 6000 Ada", "resnet50", "Offline") is None


@pytest.mark.skipif(bool(detect_host().gpus), reason="this machine has a GPU: bench-gpu would run for real")
def test_refuses_without_a_gpu(workdir: Path) -> None:
    proc = run_cli(["bench-gpu", "--model", "resnet50"], workdir)
    assert proc.returncode == 2 and "none is visible" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(bool(detect_host().gpus), reason="on a GPU machine the GPU path is measured instead (--allow-cpu "
                                                    "is for machines without one)")
def test_bench_command_writes_its_report(workdir: Path) -> None:
    proc = run_cli(["bench-gpu", "--model", "resnet50", "--backend", "null", "--allow-cpu", "--duration-ms", "1000",
                    "--out", str(workdir / "bench"), "--demo", "--target-qps", "20000"], workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (report_path,) = (workdir / "bench").glob("*/resnet50.json")
    report = json.loads(report_path.read_text())
    assert set(report["scenarios"]) == {"Offline", "Server"}
    offline = report["scenarios"]["Offline"]
    assert offline["backend"] == "null" and offline["value"] > 0 and offline["per_gpu"] == offline["value"]
    assert "ratio_to_published" not in offline  # a CPU has no published MLPerf result
