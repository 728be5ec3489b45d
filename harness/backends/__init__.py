"""Backend registry: name -> class path. Modules import their framework lazily."""

from __future__ import annotations

import importlib

from harness.backends.base import Backend, BackendInfo, BackendOptions, Runner
from harness.devices import HostInfo
from harness.errors import HarnessError

__all__ = ["Backend", "BackendInfo", "BackendOptions", "Runner", "backend_class", "backend_names", "choose_auto"]

_REGISTRY: dict[str, str] = {
    "null": "harness.backends.null:NullBackend",
    "torch": "harness.backends.torch_backend:TorchBackend",
    "onnxruntime": "harness.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "tensorrt": "harness.backends.tensorrt.backend:TensorRTBackend",
}
_ALIASES = {"ort": "onnxruntime", "pytorch": "torch", "trt": "tensorrt"}


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in _REGISTRY:
        raise HarnessError(f"unknown backend '{name}'", "pick one of: auto, " + ", ".join(backend_names()))
    module_name, _, attr = _REGISTRY[key].partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module_name), attr)
    return cls


def choose_auto(host: HostInfo, device: str = "auto") -> tuple[str, str]:
    """BACKEND=auto: TensorRT on a GPU when it imports, else torch on CUDA, else ONNX Runtime on the CPU."""
    if host.gpus and device != "cpu":
        gpu = f"{len(host.gpus)}x {host.gpus[0].name}"
        if "tensorrt" in _REGISTRY:
            usable, why = backend_class("tensorrt").availability()
            if usable:
                return "tensorrt", f"{gpu} found and the tensorrt module imports"
            trt_note = f"TensorRT unusable ({why})"
        else:
            trt_note = "no TensorRT backend in this build"
        usable, why = backend_class("torch").availability()
        if usable:
            from harness.backends.torch_backend import _cuda_available

            if _cuda_available():
                return "torch", f"{gpu} found; {trt_note}: torch on CUDA"
            trt_note += "; torch cannot use the GPU (CPU-only build?)"
        return "onnxruntime", f"{gpu} found but {trt_note}: ONNX Runtime on the CPU"
    if device == "cuda":
        raise HarnessError("a GPU was asked for (--device cuda), but none is visible",
                           "check nvidia-smi and CUDA_VISIBLE_DEVICES, or drop --device cuda")
    usable, why = backend_class("onnxruntime").availability()
    if usable:
        return "onnxruntime", "no GPU: ONNX Runtime on the CPU"
    return "torch", f"no GPU and {why}: torch on the CPU"
