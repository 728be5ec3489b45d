"""GPU telemetry during a run: clocks, power, energy, temperature, utilization and throttling over time.

A background thread reads the run's GPUs once per interval through NVML (nvidia-ml-py), or through
nvidia-smi where NVML cannot be used, and appends each sample to <run dir>/telemetry.csv as it arrives,
so an interrupted run keeps what was sampled. `stop()` returns the summary stored in RunRecord.telemetry:
per GPU min / mean / max, the energy the run took (NVML's energy counter, or power integrated over the
samples) and per sample, and how long clocks were held back by power or thermal limits. Without a
visible NVIDIA GPU nothing is sampled, and the summary says so.
"""

from __future__ import annotations

import csv
import io
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from harness.machine import nvml as nv
from harness.machine.gpus import nvidia_smi, smi_ids_for
from harness.machine.host import HostInfo

SERIES_FILE = "telemetry.csv"
# nvidia-smi query fields and the CSV column each becomes.
_QUERY = (("index", "gpu"), ("clocks.sm", "sm_clock_mhz"), ("clocks.mem", "mem_clock_mhz"),
          ("power.draw", "power_w"), ("temperature.gpu", "temperature_c"), ("utilization.gpu", "utilization_pct"),
          ("memory.used", "memory_used_mib"))
# Gauges summarized as min / mean / max; then the energy counter (J since the driver loaded, NVML only)
# and the clock-event reason bits (throttle_reasons).
METRICS = tuple(column for _, column in _QUERY[1:])
COLUMNS = ("time_s", "gpu") + METRICS + ("energy_j", "throttle_reasons")
# nvidia-smi's name for the reason bits, newer drivers first.
_SMI_REASON_FIELDS = ("clocks_event_reasons.active", "clocks_throttle_reasons.active")

Sample = dict[str, float | None]


def _number(text: str) -> float | None:
    text = text.strip()
    try:
        return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_query_output(text: str, time_s: float, reason_field: bool = False) -> list[Sample]:
    """One `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` answer -> one sample per GPU
    (with ``reason_field``, the answer has the clock-event reasons as a last column)."""
    samples = []
    width = len(_QUERY) + (1 if reason_field else 0)
    for row in csv.reader(io.StringIO(text)):
        values = [v.strip() for v in row]
        if len(values) != width or _number(values[0]) is None:
            continue
        sample: Sample = {"time_s": round(time_s, 3)}
        sample.update({column: _number(value) for (_, column), value in zip(_QUERY, values)})
        if reason_field:
            sample["throttle_reasons"] = _number(values[-1])
        samples.append(sample)
    return samples


def nvidia_smi_query(gpu_ids: list[str] | None, extra: tuple[str, ...] = ()) -> str:
    args = ["--query-gpu=" + ",".join([field for field, _ in _QUERY] + list(extra)), "--format=csv,noheader,nounits"]
    if gpu_ids:
        args += ["-i", ",".join(gpu_ids)]
    return nvidia_smi(args, timeout_s=10)


class Source(Protocol):
    name: str

    def read(self, time_s: float) -> list[Sample]: ...


class SmiSource:
    """nvidia-smi, one subprocess per sample (the fallback)."""

    name = "nvidia-smi"

    def __init__(self, gpu_ids: list[str] | None, query: Callable[[list[str] | None], str] | None = None) -> None:
        self.gpu_ids = gpu_ids
        self.reason_field: str | None = None
        if query is None:  # the real nvidia-smi: find which name this driver gives the reason bits
            self.reason_field = next((f for f in _SMI_REASON_FIELDS if nvidia_smi_query(gpu_ids, (f,)).strip()), None)
        self.query = query or (lambda ids: nvidia_smi_query(ids, (self.reason_field,) if self.reason_field else ()))

    def read(self, time_s: float) -> list[Sample]:
        return parse_query_output(self.query(self.gpu_ids), time_s, reason_field=self.reason_field is not None)


class NvmlSource:
    """NVML through nvidia-ml-py: no subprocess, and the energy counter and throttle reasons too."""

    name = "nvml"

    def __init__(self, library: Any, gpus: list[tuple[str, Any]]) -> None:
        self.nvml = library
        self.gpus = gpus

    def read(self, time_s: float) -> list[Sample]:
        lib, read = self.nvml, nv.read
        samples = []
        for index, h in self.gpus:
            power = read(lib, "nvmlDeviceGetPowerUsage", h)
            energy = read(lib, "nvmlDeviceGetTotalEnergyConsumption", h)
            util = read(lib, "nvmlDeviceGetUtilizationRates", h)
            memory = read(lib, "nvmlDeviceGetMemoryInfo", h)
            reasons = read(lib, "nvmlDeviceGetCurrentClocksEventReasons", h)
            if reasons is None:
                reasons = read(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", h)
            sample: Sample = {
                "time_s": round(time_s, 3), "gpu": float(index),
                "sm_clock_mhz": _float(read(lib, "nvmlDeviceGetClockInfo", h, lib.NVML_CLOCK_SM)),
                "mem_clock_mhz": _float(read(lib, "nvmlDeviceGetClockInfo", h, lib.NVML_CLOCK_MEM)),
                "power_w": None if power is None else round(power / 1000.0, 3),
                "temperature_c": _float(read(lib, "nvmlDeviceGetTemperature", h, lib.NVML_TEMPERATURE_GPU)),
                "utilization_pct": None if util is None else float(util.gpu),
                "memory_used_mib": None if memory is None else round(memory.used / (1 << 20), 1),
                "energy_j": None if energy is None else energy / 1000.0,
                "throttle_reasons": _float(reasons),
            }
            samples.append(sample)
        return samples


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def summarize(samples: list[Sample]) -> dict[str, dict[str, dict[str, float]]]:
    """Per GPU and gauge: min, mean and max over the samples that had a value."""
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


def _by_gpu(samples: list[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for sample in samples:
        out.setdefault(str(int(sample["gpu"] or 0)), []).append(sample)
    return out


def _values(rows: list[Sample], column: str) -> list[tuple[float, float]]:
    """(time_s, value) of the rows that have the column."""
    out = []
    for row in rows:
        value = row.get(column)
        if value is not None:
            out.append((row.get("time_s") or 0.0, value))
    return out


def energy(samples: list[Sample]) -> tuple[dict[str, float], str]:
    """Joules per GPU over the samples: the energy counter's difference where every GPU has one, else
    power integrated over time (trapezoids), and which of the two it was."""
    per_gpu = _by_gpu(samples)
    counters = {g: _values(rows, "energy_j") for g, rows in per_gpu.items()}
    if per_gpu and all(len(c) >= 2 for c in counters.values()):
        return {g: round(c[-1][1] - c[0][1], 3) for g, c in counters.items()}, "energy counter"
    out: dict[str, float] = {}
    for gpu, rows in per_gpu.items():
        points = _values(rows, "power_w")
        if len(points) >= 2:
            out[gpu] = round(sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(points, points[1:])), 3)
    return out, "power integrated over the samples"


def throttling(samples: list[Sample]) -> tuple[float, dict[str, dict[str, float]]]:
    """Seconds during which some GPU had its clocks held back by a power or thermal limit (an interval
    counts when the reading at its end says so), and per GPU the seconds per reason."""
    ticks: dict[float, list[Sample]] = {}
    for sample in samples:
        ticks.setdefault(sample["time_s"] or 0.0, []).append(sample)
    times = sorted(ticks)
    total = 0.0
    per_gpu: dict[str, dict[str, float]] = {}
    for before, now in zip(times, times[1:]):
        dt = now - before
        hit = False
        for sample in ticks[now]:
            bits = int(sample.get("throttle_reasons") or 0)
            if not bits & nv.THROTTLE_MASK:
                continue
            hit = True
            reasons = per_gpu.setdefault(str(int(sample["gpu"] or 0)), {})
            for bit, name in nv.THROTTLE_REASONS.items():
                if bits & bit:
                    reasons[name] = round(reasons.get(name, 0.0) + dt, 3)
        total += dt if hit else 0.0
    return round(total, 3), per_gpu


class Sampler:
    """Samples every `interval_s` seconds in a daemon thread until stop().

    ``source`` reads the GPUs (NVML or nvidia-smi); ``query`` instead is an nvidia-smi stand-in that
    returns the query's text for the given ids (tests, other tools)."""

    def __init__(self, run_dir: Path, gpu_ids: list[str] | None, interval_s: float = 1.0,
                 query: Callable[[list[str] | None], str] | None = None, source: Source | None = None) -> None:
        self.path = run_dir / SERIES_FILE
        self.gpu_ids = gpu_ids
        self.interval_s = interval_s
        self.source: Source = source or SmiSource(gpu_ids, query)
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
        rows = self.source.read(time.monotonic() - self._started)
        self.samples += rows
        for row in rows:
            self._writer.writerow(row)
        self._file.flush()

    def _loop(self) -> None:
        while True:
            self._sample_once()
            if self._stop.wait(self.interval_s):
                return

    def stop(self, samples: int | None = None) -> dict[str, Any]:
        """The summary; ``samples`` (the run's completed samples) gives the energy per sample."""
        self._stop.set()
        self._thread.join(timeout=15)
        self._sample_once()  # the state right at the end of the run
        self._file.close()
        if not self.samples:
            self.path.unlink(missing_ok=True)
            return {"recorded": False, "reason": f"{self.source.name} returned no readings during the run"}
        joules, how = energy(self.samples)
        throttled_s, reasons = throttling(self.samples)
        total = round(sum(joules.values()), 3) if joules else None
        return {"recorded": True, "source": self.source.name, "file": SERIES_FILE, "interval_s": self.interval_s,
                "samples": len(self.samples), "duration_s": self.samples[-1]["time_s"],
                "per_gpu": summarize(self.samples),
                "energy_j": total, "energy_per_gpu_j": joules, "energy_source": how if joules else None,
                "energy_j_per_sample": round(total / samples, 9) if total is not None and samples else None,
                "throttle_s": throttled_s, "throttle_reasons_s": reasons,
                "throttle_known": any(s.get("throttle_reasons") is not None for s in self.samples)}


class NoTelemetry:
    """What a CPU run gets: nothing is sampled, and the record says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def stop(self, samples: int | None = None) -> dict[str, Any]:
        return {"recorded": False, "reason": self.reason}


def _source(gpu_ids: list[str] | None) -> tuple[Source | None, str]:
    """NVML when it starts and finds the GPUs, else nvidia-smi; (None, why) when neither can be used."""
    library = nv.library()
    if library is not None:
        gpus = nv.handles(library, gpu_ids)
        if gpus:
            return NvmlSource(library, gpus), ""
    why = nv.unavailable_reason() or "NVML found none of the run's GPUs"
    if shutil.which("nvidia-smi") is None:
        return None, f"{why}, and nvidia-smi is not on PATH: no GPU telemetry recorded"
    return SmiSource(gpu_ids), ""


def start(run_dir: Path, host: HostInfo, devices: list[str], interval_s: float = 1.0) -> Sampler | NoTelemetry:
    """Begin sampling the run's GPUs; for a run on the CPU, record nothing."""
    if not host.gpus:
        return NoTelemetry("no NVIDIA GPU visible: this run used the CPU, so no GPU clocks, power or "
                           "temperature were recorded")
    if not any(d.startswith("cuda") for d in devices):
        return NoTelemetry(f"the run used {', '.join(devices) or 'no device'}, not a GPU: no GPU telemetry recorded")
    gpu_ids = smi_ids_for(devices)
    source, why = _source(gpu_ids)
    if source is None:
        return NoTelemetry(why)
    try:
        return Sampler(run_dir, gpu_ids, interval_s, source=source).start()
    except OSError as exc:
        return NoTelemetry(f"could not write {run_dir / SERIES_FILE}: {exc}")
