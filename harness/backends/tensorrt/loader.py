"""Finding TensorRT without loading anything heavy: whether a usable flavour imports (flavour.py), whether
this machine's GPUs can run it, and install advice."""

from __future__ import annotations

from harness.backends.tensorrt import flavour as flavours
from harness.errors import HarnessError

RTX_WHEEL = "tensorrt-rtx-cu13"


def pip_command(cuda_version: str | None) -> str:
    """The pip line for full TensorRT built for the CUDA major version torch uses."""
    major = (cuda_version or "").split(".")[0]
    wheel = f"tensorrt-cu{major}" if major in ("11", "12", "13") else "tensorrt-cu12"
    low, high = min(flavours.SUPPORTED_MAJORS["tensorrt"]), max(flavours.SUPPORTED_MAJORS["tensorrt"])
    return f"pip install '{wheel}>={low},<{high + 1}'"


def install_hint(cuda_version: str | None) -> str:
    """How to install TensorRT for the CUDA major version torch was built with."""
    where = f" (torch here uses CUDA {cuda_version})" if cuda_version else ""
    return (f"{pip_command(cuda_version)}{where}, from PyPI or "
            "NVIDIA's index (--extra-index-url https://pypi.nvidia.com), or run inside an NGC TensorRT / "
            f"PyTorch container (nvcr.io/nvidia/tensorrt); on Turing, Ampere, Ada and Blackwell RTX GPUs "
            f"`pip install {RTX_WHEEL}` (TensorRT for RTX) also works; docs/tensorrt.md has the details")


def _torch_cuda_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.version.cuda


def availability(preference: str = "auto") -> tuple[bool, str]:
    """(usable, why not): a TensorRT flavour (the one preferred) imports, and torch can allocate CUDA memory
    for it."""
    found, why = flavours.find(preference)
    if found is None:
        return False, f"{why}; install it: {pip_command(_torch_cuda_version())} (docs/tensorrt.md)"
    try:
        import torch
    except ImportError:
        return False, "torch is not installed (the TensorRT backend allocates GPU memory through torch)"
    if not torch.cuda.is_available():
        return False, "torch cannot use a CUDA GPU (CPU-only torch build?); the TensorRT backend needs it"
    return True, ""


def gpu_problem(compute_capabilities: list[str], flavour: flavours.Flavour | None = None) -> str:
    """'' when the TensorRT that would be used (``flavour``, else the one found) runs on every listed GPU,
    else why not."""
    found = flavour or flavours.find()[0]
    if found is None:
        return "no TensorRT module imports"
    refused = sorted({cc for cc in compute_capabilities if not found.runs_on(cc)})
    if refused:
        return (f"{found.label} runs on compute capability {', '.join(flavours.RTX_COMPUTE_CAPABILITIES)}, "
                f"not {', '.join(refused)} (Hopper and others need full TensorRT: "
                f"{pip_command(_torch_cuda_version())})")
    return ""


def gpu_compute_capabilities() -> list[str]:
    import torch

    return [".".join(str(x) for x in torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())]


def activate(preference: str = "auto") -> flavours.Flavour:
    """The process's TensorRT flavour, or a HarnessError that says how to install one."""
    usable, why = availability(preference)
    if not usable:
        raise HarnessError(f"the TensorRT backend cannot run: {why}", install_hint(_torch_cuda_version()))
    return flavours.activate(preference)
