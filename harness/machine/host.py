"""What this machine has for a run: visible GPUs (nvidia-smi, else torch.cuda), CPU, memory, OS."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from harness.machine.gpus import query as gpu_query


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_mib: int
    driver: str = ""
    compute_capability: str = ""


@dataclass(frozen=True)
class HostInfo:
    cpu_model: str
    cpu_count: int
    memory_gib: float
    os: str
    gpus: tuple[GpuInfo, ...]

    @property
    def gpu_model(self) -> str | None:
        return self.gpus[0].name if self.gpus else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gpus"] = [asdict(g) for g in self.gpus]
        return data


def _nvidia_smi() -> list[GpuInfo]:
    """The visible GPUs as nvidia-smi names them, numbered as CUDA numbers them."""
    gpus = []
    for i, row in enumerate(gpu_query(["name", "memory.total", "driver_version", "compute_cap"])):
        try:
            gpus.append(GpuInfo(i, row["name"], int(float(row["memory.total"])), row["driver_version"],
                                row["compute_cap"]))
        except ValueError:
            continue
    return gpus


def _nvidia_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def _torch_cuda() -> list[GpuInfo]:
    if not _nvidia_driver_present():  # importing torch costs seconds: skip it where no driver is loaded
        return []
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        gpus.append(GpuInfo(i, props.name, props.total_memory // (1 << 20), "",
                            f"{props.major}.{props.minor}"))
    return gpus


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def meminfo_kib(key: str) -> int | None:
    """One /proc/meminfo value (e.g. MemTotal, MemAvailable) in KiB; None where there is none."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _memory_gib() -> float:
    total = meminfo_kib("MemTotal")
    return round(total / (1 << 20), 1) if total is not None else 0.0


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


@lru_cache(maxsize=1)
def detect_host() -> HostInfo:
    gpus = _nvidia_smi() or _torch_cuda()  # torch already applies CUDA_VISIBLE_DEVICES
    return HostInfo(
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 1,
        memory_gib=_memory_gib(),
        os=_os_name(),
        gpus=tuple(gpus),
    )


def slug(text: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia_h100_80gb_hbm3'."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
