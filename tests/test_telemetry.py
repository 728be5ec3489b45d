"""GPU telemetry: nvidia-smi readings, the sampler's series and summary, and nothing recorded on the CPU."""

from __future__ import annotations

import csv
import itertools
import time
from pathlib import Path

import pytest

from harness.machine import gpus, telemetry
from harness.machine.host import GpuInfo, HostInfo, detect_host

# `nvidia-smi --query-gpu=index,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,memory.used
#  --format=csv,noheader,nounits` on a 2-GPU machine (the second GPU does not report power).
READINGS = ["0, 1755, 1593, 310.52, 61, 98, 40123\n1, 1740, 1593, [N/A], 58, 97, 40119\n",
            "0, 1710, 1593, 335.10, 64, 100, 40123\n1, 1725, 1593, [N/A], 60, 99, 40119\n"]
CPU_HOST = HostInfo("cpu", 2, 8.0, "linux", ())
GPU_HOST = HostInfo("cpu", 2, 8.0, "linux", (GpuInfo(0, "NVIDIA H100 PCIe", 81559),))


def test_parse_query_output() -> None:
    samples = telemetry.parse_query_output(READINGS[0] + "garbage line\n", 1.5)
    assert len(samples) == 2
    assert samples[0] == {"time_s": 1.5, "gpu": 0.0, "sm_clock_mhz": 1755.0, "mem_clock_mhz": 1593.0,
                          "power_w": 310.52, "temperature_c": 61.0, "utilization_pct": 98.0,
                          "memory_used_mib": 40123.0}
    assert samples[1]["power_w"] is None


def test_cpu_runs_record_nothing(tmp_path: Path) -> None:
    host = detect_host()
    if not host.gpus:
        sampler = telemetry.start(tmp_path, host, ["cpu"])
        summary = sampler.stop()
        assert summary["recorded"] is False and "no NVIDIA GPU" in summary["reason"]
    summary = telemetry.start(tmp_path, CPU_HOST, ["cpu"]).stop()
    assert summary == {"recorded": False, "reason": summary["reason"]} and "CPU" in summary["reason"]
    summary = telemetry.start(tmp_path, GPU_HOST, ["cpu"]).stop()
    assert summary["recorded"] is False and "not a GPU" in summary["reason"]
    assert not (tmp_path / telemetry.SERIES_FILE).exists()


def test_sampler_writes_series_and_summary(tmp_path: Path) -> None:
    answers = itertools.cycle(READINGS)
    asked: list[list[str] | None] = []

    def query(ids: list[str] | None) -> str:
        asked.append(ids)
        return next(answers)

    sampler = telemetry.Sampler(tmp_path, ["0", "1"], interval_s=0.02, query=query).start()
    time.sleep(0.2)
    summary = sampler.stop()
    assert asked and all(ids == ["0", "1"] for ids in asked)
    with open(tmp_path / telemetry.SERIES_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == telemetry.COLUMNS
    assert len(rows) == summary["samples"] == 2 * len(asked) >= 6
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times) and summary["duration_s"] == times[-1]
    gpu0 = [float(r["sm_clock_mhz"]) for r in rows if r["gpu"] == "0.0"]
    assert summary["per_gpu"]["0"]["sm_clock_mhz"] == {"min": min(gpu0), "max": max(gpu0),
                                                       "mean": pytest.approx(sum(gpu0) / len(gpu0), abs=0.01)}
    assert "power_w" not in summary["per_gpu"]["1"]  # never reported
    assert summary["per_gpu"]["0"]["power_w"]["max"] == 335.10


def test_gpu_ids_follow_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert gpus.smi_ids_for(["cuda:1"]) == ["3"]
    assert gpus.smi_ids_for(["cuda"]) is None  # no device named: all the visible ones
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f3a,1")
    assert gpus.smi_ids_for(["cuda:0", "cuda:1"]) == ["GPU-8f3a", "1"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpus.smi_ids_for(["cuda:0", "cuda:1"]) == ["0", "1"]


@pytest.mark.parametrize("value,expected", [
    (None, None), ("", []), ("-1", []), ("0,1", ["0", "1"]), (" 1 , 0 ", ["1", "0"]), ("1,-1,0", ["1"]),
    ("GPU-8f3a,MIG-1c2d", ["GPU-8f3a", "MIG-1c2d"]),
])
def test_cuda_visible_devices_is_read_one_way(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                              expected: list[str] | None) -> None:
    if value is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert gpus.visible_entries() == expected


def test_visible_rows_follow_the_list_by_index_or_uuid() -> None:
    rows = [{"index": "0", "uuid": "GPU-aaa1"}, {"index": "1", "uuid": "GPU-bbb2"}, {"index": "2", "uuid": "GPU-ccc3"}]
    assert gpus.select_visible(rows, None) == rows
    assert [r["index"] for r in gpus.select_visible(rows, ["2", "0"])] == ["2", "0"]
    assert [r["index"] for r in gpus.select_visible(rows, ["GPU-bbb2", "ccc"])] == ["1", "2"]
    assert gpus.select_visible(rows, ["7", "0"]) == []  # CUDA stops at the first entry naming no device
    assert gpus.select_visible(rows, []) == []
