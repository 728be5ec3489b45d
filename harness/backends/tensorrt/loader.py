"""Finding TensorRT: a lazy import that tells a real install from a stub-only one, plus install advice."""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import HarnessError

# The backend is written to (and type-checked against) TensorRT 10's Python API.
SUPPORTED_MAJOR = 10


def pip_command(cuda_version: str | None) -> str:
    """The pip line for TensorRT 10 built for the CUDA major version torch uses."""
    major = (cuda_version or "").split(".")[0]
    wheel = f"tensorrt-cu{major}" if major in ("11", "12", "13") else "tensorrt-cu12"
    return f"pip install '{wheel}>={SUPPORTED_MAJOR},<{SUPPORTED_MAJOR + 1}'"


def install_hint(cuda_version: str | None) -> str:
    """How to install TensorRT 10 for the CUDA major version torch was built with."""
    where = f" (torch here uses CUDA {cuda_version})" if cuda_version else ""
    return (f"{pip_command(cuda_version)}{where}, from PyPI or "
            "NVIDIA's index (--extra-index-url https://pypi.nvidia.com), or run inside an NGC TensorRT / "
            "PyTorch container (nvcr.io/nvidia/tensorrt); docs/tensorrt.md has the details")


def _torch_cuda_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.version.cuda


def check_module(module: ModuleType) -> str:
    """'' when ``module`` is a usable TensorRT 10, else why not.

    `pip install tensorrt-stubs` (for type checking) leaves a `tensorrt/` folder of .pyi files that
    Python imports as an empty namespace package: that is not TensorRT.
    """
    if getattr(module, "__file__", None) is None or not hasattr(module, "Builder"):
        return "only type stubs of the tensorrt module are installed, not TensorRT itself"
    version = str(getattr(module, "__version__", "0"))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return f"cannot read the TensorRT version ('{version}')"
    if major != SUPPORTED_MAJOR:
        return f"TensorRT {version} is installed; this backend is written for TensorRT {SUPPORTED_MAJOR}.x"
    return ""


def availability() -> tuple[bool, str]:
    """(usable, why not): TensorRT 10 imports, and torch can allocate CUDA memory for it."""
    install = f"install it: {pip_command(_torch_cuda_version())} (docs/tensorrt.md)"
    try:
        module = importlib.import_module("tensorrt")
    except ImportError as exc:
        return False, f"the tensorrt module does not import ({exc}); {install}"
    except Exception as exc:  # a broken install raises OSError / RuntimeError from its loader
        return False, f"the tensorrt module fails to load ({exc}); {install}"
    problem = check_module(module)
    if problem:
        return False, f"{problem}; {install}"
    try:
        import torch
    except ImportError:
        return False, "torch is not installed (the TensorRT backend allocates GPU memory through torch)"
    if not torch.cuda.is_available():
        return False, "torch cannot use a CUDA GPU (CPU-only torch build?); the TensorRT backend needs it"
    return True, ""


def import_tensorrt() -> ModuleType:
    """The tensorrt module, or a HarnessError that says how to install it."""
    usable, why = availability()
    if not usable:
        raise HarnessError(f"the TensorRT backend cannot run: {why}", install_hint(_torch_cuda_version()))
    return importlib.import_module("tensorrt")
