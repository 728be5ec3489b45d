"""NVML through nvidia-ml-py (``pynvml``): the GPU readings telemetry and machine state take from it.

Everything here answers None (or leaves a reading out) where NVML, the driver or a query is missing,
so callers fall back to nvidia-smi or record nothing. NVML numbers GPUs as nvidia-smi does (PCI order);
``handles`` takes nvidia-smi ids (indices or UUIDs), as harness.machine.gpus.smi_ids_for gives them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_state: dict[str, Any] = {}

# Clock-event (throttle) reasons that mean the GPU ran slower than it could, by NVML bit.
THROTTLE_REASONS = {0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x20: "sw_thermal", 0x40: "hw_thermal",
                    0x80: "hw_power_brake"}
THROTTLE_MASK = sum(THROTTLE_REASONS)


def library() -> Any | None:
    """The initialised pynvml module, or None (no nvidia-ml-py, no driver, no GPU). Initialised once."""
    with _lock:
        if "module" not in _state:
            _state["module"], _state["why"] = _init()
        return _state["module"]


def unavailable_reason() -> str:
    library()
    return str(_state.get("why") or "")


def _init() -> tuple[Any | None, str]:
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return None, f"NVML did not start ({exc})"
    return pynvml, ""


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read(lib: Any, name: str, *args: Any) -> Any | None:
    """One NVML query, ``lib.<name>(*args)``; None when this GPU, driver or nvidia-ml-py lacks it."""
    call: Callable[..., Any] | None = getattr(lib, name, None)
    if call is None:
        return None
    try:
        return call(*args)
    except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: the reading is left out
        return None


def handles(nvml: Any, smi_ids: list[str] | None) -> list[tuple[str, Any]]:
    """(nvidia-smi index, handle) of the given GPUs, or of every GPU."""
    out = []
    if smi_ids is None:
        count = read(nvml, "nvmlDeviceGetCount") or 0
        smi_ids = [str(i) for i in range(count)]
    for ident in smi_ids:
        if ident.isdigit():
            handle = read(nvml, "nvmlDeviceGetHandleByIndex", int(ident))
        else:
            handle = read(nvml, "nvmlDeviceGetHandleByUUID", ident)
        if handle is None:
            continue
        index = read(nvml, "nvmlDeviceGetIndex", handle)
        out.append((str(index if index is not None else ident), handle))
    return out


def cuda_driver_version(nvml: Any) -> str:
    version = read(nvml, "nvmlSystemGetCudaDriverVersion")
    return f"{version // 1000}.{version % 1000 // 10}" if isinstance(version, int) and version > 0 else ""
