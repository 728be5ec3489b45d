"""GPU telemetry during a run: SM and memory clocks, power, temperature and utilization over time.

A background thread asks nvidia-smi (which reads NVML) once per interval for the run's GPUs and appends
each sample to <run dir>/telemetry.csv as it arrives, so an interrupted run keeps what was sampled.
`stop()` returns the summary stored in RunRecord.telemetry. Without a visible NVIDIA GPU nothing is
sampled, and the summary says so.
"""

from __future__ import annotations

import csv
import io
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.machine.gpus import nvidia_smi, smi_ids_for
from harness.machine.host import HostInfo

SERIES_FILE = "telemetry.csv"
# nvidia-smi query fields and the CSV column each becomes.
_QUERY = (("index", "gpu"), ("clocks.sm", "sm_clock_mhz"), ("clocks.mem", "mem_clock_mhz"),
          ("power.draw", "power_w"), ("temperature.gpu", "temperature_c"), ("utilization.gpu", "utilization_pct"),
          ("memory.used", "memory_used_mib"))
COLUMNS = ("time_s",) + tuple(column for _, column in _QUERY)
METRICS = COLUMNS[2:]

Sample = dict[str, float | None]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_query_output(text: str, time_s: float) -> list[Sample]:
    """One `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` answer -> one sample per GPU."""
    samples = []
    for row in csv.reader(io.StringIO(text)):
        values = [v.strip() for v in row]
        if len(values) != len(_QUERY) or _number(values[0]) is None:
            continue
        sample: Sample = {"time_s": round(time_s, 3)}
        sample.update({column: _number(value) for (_, column), value in zip(_QUERY, values)})
        samples.append(sample)
    return samples


def nvidia_smi_query(gpu_ids: list[str] | None) -> str:
    args = ["--query-gpu=" + ",".join(field for field, _ in _QUERY), "--format=csv,noheader,nounits"]
    if gpu_ids:
        args += ["-i", ",".join(gpu_ids)]
    return nvidia_smi(args, timeout_s=10)


def summarize(samples: list[Sample]) -> dict[str, dict[str, dict[str, float]]]:
    """Per GPU and metric: min, mean and max over the samples that had a value."""
    per_gpu: dict[str, dict[str, list[float]]] = {}
    for sample in samples:
        gpu = str(int(sample["gpu"] or 0))
        for metric in METRICS:
            value = sample.get(metric)
            if value is not None:
                per_gpu.setdefault(gpu, {}).setdefault(metric, []).append(value)
    return {gpu: {metric: {"min": min(v), "mean": round(sum(v) / len(v), 2), "max": max(v)}
                  for metric, v in metrics.items()}
            for gpu, metrics in per_gpu.items()}


class Sampler:
    """Samples every `interval_s` seconds in a daemon thread until stop()."""

    def __init__(self, run_dir: Path, gpu_ids: list[str] | None, interval_s: float = 1.0,
                 query: Callable[[list[str] | None], str] = nvidia_smi_query) -> None:
        self.path = run_dir / SERIES_FILE
        self.gpu_ids = gpu_ids
        self.interval_s = interval_s
        self.query = query
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self._started = 0.0
        self._writer: Any = None
        self._file: Any = None

    def start(self) -> "Sampler":
        self._file = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._writer.writeheader()
        self._started = time.monotonic()
        self._thread.start()
        return self

    def _sample_once(self) -> None:
        rows = parse_query_output(self.query(self.gpu_ids), time.monotonic() - self._started)
        self.samples += rows
        for row in rows:
            self._writer.writerow(row)
        self._file.flush()

    def _loop(self) -> None:
        while True:
            self._sample_once()
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=15)
        self._sample_once()  # the state right at the end of the run
        self._file.close()
        if not self.samples:
            self.path.unlink(missing_ok=True)
            return {"recorded": False, "reason": "nvidia-smi returned no readings during the run"}
        return {"recorded": True, "source": "nvidia-smi", "file": SERIES_FILE, "interval_s": self.interval_s,
                "samples": len(self.samples), "duration_s": self.samples[-1]["time_s"],
                "per_gpu": summarize(self.samples)}


class NoTelemetry:
    """What a CPU run gets: nothing is sampled, and the record says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def stop(self) -> dict[str, Any]:
        return {"recorded": False, "reason": self.reason}


def start(run_dir: Path, host: HostInfo, devices: list[str], interval_s: float = 1.0) -> Sampler | NoTelemetry:
    """Begin sampling the run's GPUs; for a run on the CPU, record nothing."""
    if not host.gpus:
        return NoTelemetry("no NVIDIA GPU visible: this run used the CPU, so no GPU clocks, power or "
                           "temperature were recorded")
    if not any(d.startswith("cuda") for d in devices):
        return NoTelemetry(f"the run used {', '.join(devices) or 'no device'}, not a GPU: no GPU telemetry recorded")
    if shutil.which("nvidia-smi") is None:
        return NoTelemetry("nvidia-smi not found: GPU telemetry needs the NVIDIA driver's tools on PATH")
    try:
        return Sampler(run_dir, smi_ids_for(devices), interval_s).start()
    except OSError as exc:
        return NoTelemetry(f"could not write {run_dir / SERIES_FILE}: {exc}")
