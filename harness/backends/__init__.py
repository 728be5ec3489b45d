"""Backend registry: name -> class path. Modules import their framework lazily."""

from __future__ import annotations

import importlib

from harness.backends.base import (
    Backend,
    BackendContext,
    BackendInfo,
    GeneratorRunner,
    NetworkRunner,
    Runner,
)
from harness.errors import HarnessError

__all__ = ["Backend", "BackendContext", "BackendInfo", "GeneratorRunner", "NetworkRunner", "Runner",
           "backend_class", "backend_names", "offering"]

_REGISTRY: dict[str, str] = {
    "null": "harness.backends.null:NullBackend",
    "torch": "harness.backends.torch_backend:TorchBackend",
    "onnxruntime": "harness.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "tensorrt": "harness.backends.tensorrt.backend:TensorRTBackend",
    "tensorrt-llm": "harness.backends.tensorrt_llm.backend:TensorRTLLMBackend",
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


def offering(kind: str) -> list[str]:
    """Names of the backends that can build ``kind`` runners."""
    return [name for name in backend_names() if kind in backend_class(name).offers]
