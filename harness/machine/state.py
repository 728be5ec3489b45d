"""The machine's state for a night: what can make the same benchmark run faster or slower tomorrow.

A flat mapping (``driver``, ``cuda``, ``tensorrt``, ``gpu0.power_limit_w``, ``cpu_governor``, ...) read
through NVML where it can be, nvidia-smi otherwise, and /sys, package metadata and git for the rest.
``changes`` lists what differs between two states, leaving out readings that move by themselves
(temperatures, current clocks), for the report to put next to a regression ("driver 550.54 -> 555.42").
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from harness.machine import nvml as nv
from harness.machine.gpus import query as smi_query
from harness.machine.gpus import visible_entries
from harness.machine.probe import (
    ORT_PACKAGES,
    TENSORRT_PACKAGES,
    TENSORRT_RTX_PACKAGES,
    cuda_version,
    package_version,
)
from harness.results.record import git_state

# Readings that change from one moment to the next on an unchanged machine: shown, never a "change".
VOLATILE_SUFFIXES = (".temperature_c", ".sm_clock_mhz", ".mem_clock_mhz", ".pstate")
VOLATILE = frozenset({"taken_by"})
_SMI_FIELDS = {"name": "name", "driver_version": "driver", "clocks.sm": "sm_clock_mhz",
               "clocks.mem": "mem_clock_mhz", "clocks.applications.graphics": "app_sm_clock_mhz",
               "clocks.applications.memory": "app_mem_clock_mhz", "clocks.max.sm": "max_sm_clock_mhz",
               "power.limit": "power_limit_w", "persistence_mode": "persistence", "ecc.mode.current": "ecc",
               "temperature.gpu": "temperature_c", "pstate": "pstate"}


def cpu_governor(sys_root: Path = Path("/sys")) -> str:
    found = sorted({p.read_text().strip() for p in sys_root.glob("devices/system/cpu/cpu*/cpufreq/scaling_governor")
                    if p.is_file()})
    return ", ".join(found) if found else "n/a (no cpufreq)"


def _on_off(value: Any) -> str:
    return {0: "Disabled", 1: "Enabled"}.get(value, "n/a") if value is not None else "n/a"


def _nvml_gpus(lib: Any) -> tuple[dict[str, Any], str]:
    out: dict[str, Any] = {}
    read = nv.read
    gpus = nv.handles(lib, visible_entries())  # the GPUs runs may use, as the nvidia-smi path reads them
    for index, h in gpus:
        p = f"gpu{index}."
        limit = read(lib, "nvmlDeviceGetEnforcedPowerLimit", h)
        ecc = read(lib, "nvmlDeviceGetEccMode", h)
        app = read(lib, "nvmlDeviceGetApplicationsClock", h, lib.NVML_CLOCK_SM)
        app_mem = read(lib, "nvmlDeviceGetApplicationsClock", h, lib.NVML_CLOCK_MEM)
        out.update({
            p + "name": nv.text(read(lib, "nvmlDeviceGetName", h) or ""),
            p + "sm_clock_mhz": read(lib, "nvmlDeviceGetClockInfo", h, lib.NVML_CLOCK_SM),
            p + "mem_clock_mhz": read(lib, "nvmlDeviceGetClockInfo", h, lib.NVML_CLOCK_MEM),
            p + "app_sm_clock_mhz": app, p + "app_mem_clock_mhz": app_mem,
            p + "max_sm_clock_mhz": read(lib, "nvmlDeviceGetMaxClockInfo", h, lib.NVML_CLOCK_SM),
            p + "power_limit_w": None if limit is None else round(limit / 1000.0, 1),
            p + "persistence": _on_off(read(lib, "nvmlDeviceGetPersistenceMode", h)),
            p + "ecc": _on_off(ecc[0] if isinstance(ecc, (list, tuple)) else None),
            p + "temperature_c": read(lib, "nvmlDeviceGetTemperature", h, lib.NVML_TEMPERATURE_GPU),
            p + "pstate": read(lib, "nvmlDeviceGetPerformanceState", h),
        })
    driver = nv.text(read(lib, "nvmlSystemGetDriverVersion") or "")
    out["gpu_count"] = len(gpus)
    return out, driver


def _smi_gpus() -> tuple[dict[str, Any], str]:
    out: dict[str, Any] = {}
    rows = smi_query(list(_SMI_FIELDS))
    for row in rows:
        p = f"gpu{row.get('index', '?')}."
        for field, ours in _SMI_FIELDS.items():
            if ours == "driver":
                continue
            value: Any = row.get(field, "")
            try:
                value = float(value) if ours.endswith(("_mhz", "_w", "_c")) else value
            except ValueError:
                pass
            out[p + ours] = value
    out["gpu_count"] = len(rows)
    return out, rows[0].get("driver_version", "") if rows else ""


def machine_state() -> dict[str, Any]:
    """This machine now, as a flat mapping of plain values."""
    lib = nv.library()
    if lib is not None:
        gpus, driver = _nvml_gpus(lib)
        source, cuda = "nvml", nv.cuda_driver_version(lib) or cuda_version()
    else:
        gpus, driver = _smi_gpus()
        source = "nvidia-smi" if gpus.get("gpu_count") else "none"
        cuda = cuda_version() if gpus.get("gpu_count") else ""
    git = git_state()
    state: dict[str, Any] = {
        "taken_by": source, "host": platform.node(), "kernel": platform.release(),
        "cpu_governor": cpu_governor(), "driver": driver or "n/a", "cuda": cuda or "n/a",
        "tensorrt": package_version(*TENSORRT_PACKAGES) or "n/a",
        "tensorrt_rtx": package_version(*TENSORRT_RTX_PACKAGES) or "n/a",
        "torch": package_version("torch") or "n/a",
        "onnxruntime": package_version(*ORT_PACKAGES) or "n/a",
        "loadgen": package_version("mlcommons-loadgen") or "n/a", "python": platform.python_version(),
        "git_commit": git.get("commit") or "unknown", "git_dirty": bool(git.get("dirty")),
    }
    state.update(gpus)
    return state


def volatile(key: str) -> bool:
    return key in VOLATILE or key.endswith(VOLATILE_SUFFIXES)


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, before, after) for every lasting difference, in key order."""
    keys = sorted(set(before) | set(after))
    return [(k, before.get(k), after.get(k)) for k in keys
            if not volatile(k) and before.get(k) != after.get(k) and not (k not in before or k not in after)]


def change_text(change: tuple[str, Any, Any]) -> str:
    key, old, new = change
    return f"{key} {_short(old)} -> {_short(new)}"


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if len(text) == 40 and all(c in "0123456789abcdef" for c in text) else text
