"""Telemetry through NVML: the sampler's series, energy (counter, or power integrated), energy per
sample and throttle time, read from a stand-in for pynvml with the calls and constants NVML has; the
nvidia-smi fallback's clock-event reasons; machine-state changes. The real NVML runs on GPU machines."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.machine import nvml, state, telemetry
from harness.machine.telemetry import NvmlSource, Sampler, energy, parse_query_output, throttling
from harness.results.pages.runpage import energy_rows


class FakeNvml:
    """Two GPUs; each reading advances time by one step: 300 W, so 300 J more on the counter per second."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, throttled: int = 0x4, energy_counter: bool = True) -> None:
        self.throttled = throttled
        self.energy_counter = energy_counter
        self.started = time.monotonic()

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetIndex(self, handle: int) -> int:
        return handle

    def nvmlDeviceGetClockInfo(self, handle: int, kind: int) -> int:
        return 1980 if kind == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 300_000  # mW

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if not self.energy_counter:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return int(5_000_000 + 300_000 * self._elapsed())  # mJ

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 61 + handle

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=97, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=40 * (1 << 30), total=80 * (1 << 30))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: int) -> int:
        return self.throttled if handle == 1 else 0x1  # GPU 1 power-capped; GPU 0 only "idle" (not throttling)


def test_nvml_sampler_records_energy_and_throttling(tmp_path: Path) -> None:
    lib = FakeNvml()
    source = NvmlSource(lib, nvml.handles(lib, ["0", "1"]))
    sampler = Sampler(tmp_path, ["0", "1"], interval_s=0.05, source=source).start()
    time.sleep(0.4)
    summary = sampler.stop(samples=1000)
    assert summary["source"] == "nvml" and summary["recorded"]
    with open(tmp_path / telemetry.SERIES_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == telemetry.COLUMNS and len(rows) == summary["samples"]
    assert float(rows[0]["power_w"]) == 300.0 and float(rows[0]["memory_used_mib"]) == 40 * 1024
    duration = summary["duration_s"]
    assert summary["energy_source"] == "energy counter"
    for gpu in ("0", "1"):
        assert summary["energy_per_gpu_j"][gpu] == pytest.approx(300 * duration, rel=0.2)
    assert summary["energy_j_per_sample"] == pytest.approx(summary["energy_j"] / 1000)
    assert summary["throttle_s"] == pytest.approx(duration, abs=0.06)  # GPU 1 was capped all along
    assert set(summary["throttle_reasons_s"]) == {"1"} and "sw_power_cap" in summary["throttle_reasons_s"]["1"]
    assert summary["per_gpu"]["1"]["temperature_c"] == {"min": 62.0, "mean": 62.0, "max": 62.0}
    lines = dict(energy_rows(summary))
    assert "energy counter" in lines["energy"] and "mJ" in lines["energy per sample"]
    assert "sw power cap" in lines["throttled (power or thermal limit)"]


def test_without_a_counter_energy_is_power_integrated() -> None:
    samples: list[dict[str, float | None]] = [
        {"time_s": t, "gpu": 0.0, "power_w": p, "energy_j": None, "throttle_reasons": None}
        for t, p in ((0.0, 100.0), (1.0, 300.0), (3.0, 300.0))]
    joules, how = energy(samples)
    assert joules == {"0": 200.0 + 600.0} and how == "power integrated over the samples"
    assert throttling(samples) == (0.0, {})


def test_nvidia_smi_fallback_reads_clock_event_reasons() -> None:
    text = "0, 1755, 1593, 310.52, 61, 98, 40123, 0x0000000000000040\n1, 1740, 1593, [N/A], 58, 97, 40119, 0x0\n"
    rows = parse_query_output(text, 2.0, reason_field=True)
    assert rows[0]["throttle_reasons"] == 0x40 and rows[1]["throttle_reasons"] == 0 and rows[1]["power_w"] is None
    ticks = [{**r, "time_s": t} for t in (0.0, 1.0, 2.0) for r in rows]
    total, reasons = throttling(ticks)
    assert total == 2.0 and reasons == {"0": {"hw_thermal": 2.0}}


def test_machine_state_through_nvml_and_its_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = FakeNvml()
    extra = {"nvmlDeviceGetEnforcedPowerLimit": lambda h: 700_000, "nvmlDeviceGetEccMode": lambda h: (1, 1),
             "nvmlDeviceGetPersistenceMode": lambda h: 1, "nvmlSystemGetDriverVersion": lambda: "550.54.15",
             "nvmlDeviceGetName": lambda h: b"NVIDIA H100 80GB HBM3", "nvmlSystemGetCudaDriverVersion": lambda: 12040}
    for name, fn in extra.items():
        setattr(lib, name, fn)
    monkeypatch.setattr(nvml, "library", lambda: lib)
    now = state.machine_state()
    assert now["taken_by"] == "nvml" and now["driver"] == "550.54.15" and now["cuda"] == "12.4"
    assert now["gpu0.power_limit_w"] == 700.0 and now["gpu1.ecc"] == "Enabled" and now["gpu0.persistence"] == "Enabled"
    assert now["gpu0.name"] == "NVIDIA H100 80GB HBM3" and now["gpu0.app_sm_clock_mhz"] is None  # not supported
    later = {**now, "driver": "555.42.02", "gpu0.temperature_c": 80, "gpu0.power_limit_w": 600.0}
    found = [state.change_text(c) for c in state.changes(now, later)]
    assert found == ["driver 550.54.15 -> 555.42.02", "gpu0.power_limit_w 700.0 -> 600.0"]  # temperature moves


def test_cpu_runs_still_record_nothing(tmp_path: Path) -> None:
    from harness.machine.host import HostInfo

    summary = telemetry.start(tmp_path, HostInfo("cpu", 2, 8.0, "linux", ()), ["cpu"]).stop(samples=10)
    assert summary["recorded"] is False and "CPU" in summary["reason"]
