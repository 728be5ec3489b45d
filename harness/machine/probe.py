"""Detect what a systems description needs: GPUs (nvidia-smi), CPU, memory, storage, network, OS, software.

Only cheap, read-only probes: /proc, /sys, nvidia-smi and installed package metadata (no framework import).
Whatever cannot be found stays empty for the user to fill in.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.machine.gpus import nvidia_smi
from harness.machine.gpus import query as gpu_query
from harness.machine.host import HostInfo, detect_host

_SYS = Path("/sys")
# GPU memory type by product name (nvidia-smi does not report it); first match wins.
_MEMORY_TYPES = ((r"H200|GH200|B200|B100", "HBM3e"), (r"H100.*(SXM|HBM3|NVL)", "HBM3"), (r"H100", "HBM2e"),
                 (r"A100|A30", "HBM2e"), (r"V100", "HBM2"), (r"L40|L4\b|A10|A40|A16|A2\b|T4|RTX", "GDDR6"))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _size_text(nbytes: float) -> str:
    """Disk bytes as MLPerf systems files write sizes: '960 GB', '5 TB' (decimal units, rounded)."""
    if nbytes >= 1e12:
        return f"{nbytes / 1e12:.3g} TB"
    return f"{max(round(nbytes / 1e9), 1)} GB"


def _gib_text(gib: float) -> str:
    """Memory as vendors name it: 79.6 GiB usable -> '80 GB', 2015 GiB -> '2 TB'."""
    if gib >= 1000:
        return f"{gib / 1024:.2g} TB"
    return f"{max(round(gib), 1)} GB"


def gpu_details() -> list[dict[str, str]]:
    """Per visible GPU: name, memory, max SM clock, PCIe link (from nvidia-smi), in CUDA_VISIBLE_DEVICES order."""
    names = {"index": "index", "name": "name", "memory.total": "memory_mib", "clocks.max.sm": "max_sm_mhz",
             "pcie.link.gen.max": "pcie_gen", "pcie.link.width.max": "pcie_width", "driver_version": "driver"}
    return [{ours: row[field] for field, ours in names.items()} for row in gpu_query(list(names))]


def _nvlink() -> bool:
    return re.search(r"Link \d+: [\d.]+ GB/s", nvidia_smi(["nvlink", "--status"])) is not None


def cuda_version() -> str:
    match = re.search(r"CUDA Version:\s*([\d.]+)", nvidia_smi([]))
    if match:
        return match.group(1)
    spec = importlib.util.find_spec("torch")  # torch/version.py, read without importing torch
    if spec and spec.origin:
        text = _read(Path(spec.origin).parent / "version.py")
        found = re.search(r"^cuda\s*(?::\s*\S+)?\s*=\s*'([\d.]+)'", text, flags=re.MULTILINE)
        if found:
            return found.group(1)
    return ""


def package_version(*names: str) -> str:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return ""


# The packages that carry each framework's version.
TENSORRT_PACKAGES = ("tensorrt", "tensorrt-cu12", "tensorrt_cu12", "tensorrt-cu13")
TENSORRT_RTX_PACKAGES = ("tensorrt-rtx-cu13", "tensorrt_rtx_cu13_bindings", "tensorrt-rtx")
ORT_PACKAGES = ("onnxruntime-gpu", "onnxruntime")
# Framework (as a systems file names it) -> (packages, the module name a backend records its version under).
_FRAMEWORKS = {
    "tensorrt": ("TensorRT", TENSORRT_PACKAGES, "tensorrt"),
    "tensorrt-llm": ("TensorRT-LLM", ("tensorrt-llm", "tensorrt_llm"), "tensorrt_llm"),
    "torch": ("PyTorch", ("torch",), "torch"),
    "onnxruntime": ("ONNX Runtime", ORT_PACKAGES, "onnxruntime"),
}
NULL_FRAMEWORK = "none (null backend: no inference)"


def framework_of(backend: str, versions: dict[str, str] | None = None) -> str:
    """The framework a run on ``backend`` used, with its version: from what the backend recorded
    (``versions``, BackendInfo.versions) when given, else from the installed packages."""
    if backend == "null":
        return NULL_FRAMEWORK
    label, packages, module = _FRAMEWORKS.get(backend, (backend, (backend,), backend))
    if backend == "tensorrt":  # the backend runs full TensorRT, or TensorRT for RTX when only that imports
        if versions and "tensorrt_rtx" in versions:
            return f"TensorRT for RTX {versions['tensorrt_rtx']}"
        if not versions and not package_version(*packages) and package_version(*TENSORRT_RTX_PACKAGES):
            return f"TensorRT for RTX {package_version(*TENSORRT_RTX_PACKAGES)}"
    version = (versions or {}).get(module) or package_version(*packages)
    return f"{label} {version}" if version else label


def software(driver: str = "", backend: str | None = None,
             versions: dict[str, str] | None = None) -> tuple[str, str]:
    """(framework, other_software_stack); the framework is the backend's when the run names one."""
    tensorrt = package_version(*TENSORRT_PACKAGES)
    torch = package_version("torch")
    ort = package_version(*ORT_PACKAGES)
    cuda = cuda_version() if driver or tensorrt else ""
    cudnn = package_version("nvidia-cudnn-cu12", "nvidia-cudnn-cu13") if driver else ""
    if backend is not None:
        main = framework_of(backend, versions)
    else:
        main = f"TensorRT {tensorrt}" if tensorrt else (f"PyTorch {torch}" if torch else
                                                       (f"ONNX Runtime {ort}" if ort else ""))
    on_gpu = backend not in ("null", "onnxruntime")  # the CPU-only backends here use no CUDA
    framework = ", ".join(p for p in (main, f"CUDA {cuda}" if cuda and on_gpu else "") if p)
    stack = [f"TensorRT {tensorrt}" if tensorrt else "", f"CUDA {cuda}" if cuda else "",
             f"cuDNN {cudnn}" if cudnn else "", f"Driver {driver}" if driver else "",
             f"PyTorch {torch}" if torch else "", f"ONNX Runtime {ort}" if ort else "",
             f"LoadGen {package_version('mlcommons-loadgen')}", f"Python {platform.python_version()}"]
    return framework, ", ".join(p for p in stack if p and not p.endswith(" "))


def cpu_topology() -> tuple[int, int]:
    """(sockets, cores per socket) from /proc/cpuinfo; (1, logical CPUs) when it says nothing."""
    sockets: set[str] = set()
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in _read(Path("/proc/cpuinfo")).splitlines() + [""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            physical = value
        elif key == "core id":
            core = value
        elif not key and physical:
            sockets.add(physical)
            cores.add((physical, core))
            physical = core = ""
    if not sockets:
        return 1, os.cpu_count() or 1
    return len(sockets), max(len(cores) // len(sockets), 1)


def cpu_frequency() -> str:
    khz = _read(_SYS / "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return f"{int(khz) // 1000} MHz" if khz.isdigit() else ""


def cpu_caches() -> str:
    parts = []
    for index in sorted((_SYS / "devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind, size = (_read(index / n) for n in ("level", "type", "size"))
        if level and size:
            suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
            parts.append(f"L{level}{suffix} {size}")
    return ", ".join(parts)


def storage() -> tuple[str, str]:
    """(capacity, type) of the local block devices (partitions, loop, ram and device-mapper excluded)."""
    total = 0
    kinds = set()
    for dev in sorted((_SYS / "block").glob("*")):
        if re.match(r"(loop|ram|zram|dm-|sr|md|nbd)", dev.name):
            continue
        sectors = _read(dev / "size")
        if not sectors.isdigit() or int(sectors) == 0:
            continue
        total += int(sectors) * 512
        if dev.name.startswith("nvme"):
            kinds.add("NVMe SSD")
        else:
            kinds.add("HDD" if _read(dev / "queue/rotational") == "1" else "SSD")
    return (_size_text(total) if total else "", ", ".join(sorted(kinds)))


def network() -> tuple[str, str]:
    """(kind, card count text like '2x 25GbE') of the physical network interfaces."""
    speeds: list[int] = []
    kinds = set()
    for iface in sorted((_SYS / "class/net").glob("*")):
        if not (iface / "device").exists():
            continue  # virtual: lo, bridges, veth
        kinds.add("InfiniBand" if _read(iface / "type") == "32" else "Ethernet")
        speed = _read(iface / "speed")
        speeds.append(int(speed) if speed.lstrip("-").isdigit() and int(speed) > 0 else 0)
    if not speeds:
        return "", ""
    fastest = max(speeds)
    rate = f" {fastest // 1000}GbE" if fastest >= 1000 else ""
    return ", ".join(sorted(kinds)), f"{len(speeds)}x{rate}" if rate else str(len(speeds))


def machine_name() -> str:
    vendor = _read(_SYS / "class/dmi/id/sys_vendor")
    product = _read(_SYS / "class/dmi/id/product_name")
    text = " ".join(p for p in (vendor, product) if p and "to be filled" not in p.lower())
    return text or platform.node()


def detect_description(name: str, host: HostInfo | None = None, backend: str | None = None,
                       versions: dict[str, str] | None = None) -> dict[str, Any]:
    host = host or detect_host()
    gpus = gpu_details()
    if not gpus and host.gpus:  # no nvidia-smi, but torch sees the GPUs
        gpus = [{"index": str(g.index), "name": g.name, "memory_mib": str(g.memory_mib), "max_sm_mhz": "",
                 "pcie_gen": "", "pcie_width": "", "driver": g.driver} for g in host.gpus]
    sockets, cores = cpu_topology()
    capacity, kind = storage()
    net_kind, net_count = network()
    data: dict[str, Any] = {
        "division": "closed", "submitter": "", "status": "available", "number_of_nodes": 1,
        "system_type": "datacenter", "system_type_detail": "N/A",
        "host_processor_model_name": host.cpu_model, "host_processors_per_node": sockets,
        "host_processor_core_count": cores, "host_processor_frequency": cpu_frequency(),
        "host_processor_caches": cpu_caches(), "host_processor_interconnect": "",
        "host_memory_capacity": _gib_text(host.memory_gib), "host_memory_configuration": "",
        "host_storage_capacity": capacity, "host_storage_type": kind,
        "host_networking": net_kind, "host_networking_topology": "N/A", "host_network_card_count": net_count,
        "cooling": "", "hw_notes": "", "operating_system": host.os,
        "sw_notes": "",
    }
    driver = gpus[0]["driver"] if gpus else ""
    data["framework"], data["other_software_stack"] = software(driver, backend, versions)
    if gpus:
        first = gpus[0]
        memory_gib = float(first["memory_mib"]) / 1024 if first["memory_mib"].replace(".", "").isdigit() else 0
        link = (f"PCIe Gen{first['pcie_gen']} x{first['pcie_width']}"
                if first["pcie_gen"].isdigit() and first["pcie_width"].isdigit() else "PCIe")
        memory_type = next((t for pattern, t in _MEMORY_TYPES if re.search(pattern, first["name"], re.I)), "")
        data.update({
            "accelerators_per_node": len(gpus), "accelerator_model_name": first["name"],
            "accelerator_memory_capacity": _gib_text(memory_gib) if memory_gib else "",
            "accelerator_memory_configuration": memory_type,
            "accelerator_frequency": f"{first['max_sm_mhz']} MHz" if first["max_sm_mhz"].isdigit() else "",
            "accelerator_host_interconnect": link,
            "accelerator_interconnect": "NVLink" if _nvlink() else link,
            "accelerator_interconnect_topology": "", "accelerator_on-chip_memories": "",
        })
        data["system_name"] = f"{machine_name()} ({len(gpus)}x {first['name']})"
    else:
        data.update({key: "N/A" for key in (
            "accelerator_model_name", "accelerator_memory_capacity", "accelerator_memory_configuration",
            "accelerator_frequency", "accelerator_host_interconnect", "accelerator_interconnect",
            "accelerator_interconnect_topology", "accelerator_on-chip_memories")})
        data["accelerators_per_node"] = "0"  # a string: the checker treats a bare 0 as "no answer"
        data["system_name"] = f"{machine_name()} (CPU only)"
    return data
