"""Which TensorRT this process uses, and the few ways the flavours differ (the one adapter).

Two Python modules speak TensorRT 10's API: ``tensorrt`` (TensorRT 10.x and 11.x, from NVIDIA's index
or NGC containers) and ``tensorrt_rtx`` (TensorRT for RTX, a real wheel on PyPI). The backend takes its
module from here only: ``active()`` is the one every other file of the backend uses, chosen once per
process (one TensorRT library per process: the two are never loaded side by side).

Where they differ, the ``Flavour`` below says so; nothing else in the backend branches on the flavour:

- precision: TensorRT 10 networks are weakly typed and take FP16 / INT8 / FP8 builder flags; TensorRT
  11 removed those flags and TensorRT for RTX never had them: their networks are strongly typed, so an
  fp16 engine is built from an fp16-typed ONNX (``typed_onnx.py``) and int8 / fp8 need Q/DQ nodes;
- INT8 calibrators (implicit quantization): TensorRT 10 only;
- TensorRT for RTX builds ahead of time without a GPU for a list of compute capabilities (SM75, 80,
  86, 89, 120, 121: no Hopper) and compiles kernels on the device when an engine is loaded.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness.errors import HarnessError

MODULES = ("tensorrt", "tensorrt_rtx")  # preference order: full TensorRT first
CHOICES = ("auto", *MODULES)
SUPPORTED_MAJORS = {"tensorrt": (10, 11), "tensorrt_rtx": (1,)}
# TensorRT for RTX runs on these compute capabilities only (trt.ComputeCapability of 1.7).
RTX_COMPUTE_CAPABILITIES = ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1")
# BuilderFlag names each precision sets on weakly typed networks (TensorRT 10). int8 and fp8 keep fp16
# on, so layers without an int8 / fp8 kernel fall back to fp16, not to fp32 (what NVIDIA's engines do).
PRECISION_FLAGS: dict[str, tuple[str, ...]] = {
    "fp32": (),
    "fp16": ("FP16",),
    "bf16": ("BF16",),
    "int8": ("INT8", "FP16"),
    "fp8": ("FP8", "FP16"),
}


@dataclass(frozen=True)
class Flavour:
    """One importable TensorRT module and what it can do."""

    name: str  # the module: tensorrt | tensorrt_rtx
    version: str
    module: Any = field(repr=False, compare=False)

    @property
    def major(self) -> int:
        return _major(self.version)

    @property
    def label(self) -> str:
        return f"TensorRT for RTX {self.version}" if self.name == "tensorrt_rtx" else f"TensorRT {self.version}"

    @property
    def strongly_typed(self) -> bool:
        """Precision comes from the ONNX's tensor types and Q/DQ nodes, not from builder flags."""
        return self.name == "tensorrt_rtx" or self.major >= 11

    @property
    def calibrates(self) -> bool:
        """Whether INT8 calibrators (implicit quantization) exist: TensorRT 10 only."""
        return not self.strongly_typed

    def precision_flags(self, precision: str) -> tuple[str, ...]:
        """BuilderFlag names to set for ``precision`` (none on strongly typed networks)."""
        return () if self.strongly_typed else PRECISION_FLAGS[precision]

    def onnx_float_type(self, precision: str) -> str:
        """The float type the ONNX graph must carry for ``precision``: float32, or float16 (converted)."""
        return "float16" if self.strongly_typed and precision == "fp16" else "float32"

    def runs_on(self, compute_capability: str) -> bool:
        return runs_on(self.name, compute_capability)

    def precision_problem(self, precision: str, has_qdq: bool) -> tuple[str, str]:
        """('', '') when this flavour can build ``precision`` from the ONNX, else (why not, the way out)."""
        if not self.strongly_typed:
            return "", ""
        if precision == "bf16":
            return (f"{self.label} builds strongly typed networks and the harness converts ONNX to fp16 only",
                    "use precision fp16 (or TensorRT 10, whose BF16 builder flag still exists)")
        if precision in ("int8", "fp8") and not has_qdq:
            return (f"{self.label} has no INT8 calibrators or {precision.upper()} builder flag (implicit "
                    "quantization was removed): the ONNX must carry Q/DQ nodes",
                    "use --set precision=fp16, pass a quantized (Q/DQ) ONNX with --weights, or build with "
                    "TensorRT 10")
        return "", ""

    def target(self, config: Any, compute_capability: str) -> None:
        """Build for the GPU's compute capability (TensorRT for RTX builds without one; 7.5 must be named)."""
        if self.name != "tensorrt_rtx":
            return  # full TensorRT builds for the GPU it runs on
        member = "SM" + compute_capability.replace(".", "")
        value = getattr(self.module.ComputeCapability, member, None)
        if value is None:
            raise HarnessError(f"{self.label} cannot build for compute capability {compute_capability}",
                               "it targets " + ", ".join(RTX_COMPUTE_CAPABILITIES) + "; install full TensorRT")
        config.num_compute_capabilities = 1
        config.set_compute_capability(value, 0)


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return -1


def check_module(name: str, module: ModuleType) -> str:
    """'' when ``module`` is a usable TensorRT of flavour ``name``, else why not.

    `pip install tensorrt-stubs` (for type checking) leaves a `tensorrt/` folder of .pyi files that
    Python imports as an empty namespace package: that is not TensorRT.
    """
    if getattr(module, "__file__", None) is None or not hasattr(module, "Builder"):
        return f"only type stubs of the {name} module are installed, not TensorRT itself"
    version = str(getattr(module, "__version__", "0"))
    major = _major(version)
    if major < 0:
        return f"cannot read the {name} version ('{version}')"
    supported = SUPPORTED_MAJORS[name]
    if major not in supported:
        wanted = " or ".join(f"{m}.x" for m in supported)
        what = "TensorRT for RTX" if name == "tensorrt_rtx" else "TensorRT"
        return f"{what} {version} is installed; this backend is written for {what} {wanted}"
    return ""


Importer = Callable[[str], ModuleType]


def runs_on(name: str, compute_capability: str) -> bool:
    """Whether the flavour of module ``name`` runs on a GPU of ``compute_capability``."""
    return name != "tensorrt_rtx" or compute_capability in RTX_COMPUTE_CAPABILITIES


def find(preference: str = "auto", importer: Importer = importlib.import_module) -> tuple[Flavour | None, str]:
    """(the flavour to use, '') or (None, why none is usable). Full TensorRT wins when both import."""
    if preference not in CHOICES:
        raise HarnessError(f"unknown TensorRT flavour '{preference}'", "use one of " + ", ".join(CHOICES))
    problems = []
    for name in MODULES if preference == "auto" else (preference,):
        try:
            module = importer(name)
        except ImportError as exc:
            problems.append(f"{name} does not import ({exc})")
            continue
        except Exception as exc:  # a broken install raises OSError / RuntimeError from its loader
            problems.append(f"{name} fails to load ({exc})")
            continue
        problem = check_module(name, module)
        if problem:
            problems.append(problem)
            continue
        return Flavour(name, str(module.__version__), module), ""
    return None, "; ".join(problems)


_ACTIVE: Flavour | None = None
_LOCK = threading.Lock()


def activate(preference: str = "auto") -> Flavour:
    """The process's TensorRT, chosen on first use; a later call must agree with that choice."""
    global _ACTIVE
    with _LOCK:
        if _ACTIVE is not None:
            if preference not in ("auto", _ACTIVE.name):
                raise HarnessError(f"this process already uses {_ACTIVE.label}; {preference} cannot join it "
                                   "(one TensorRT library per process)",
                                   f"run the {preference} build in its own process (--set flavour={preference})")
            return _ACTIVE
        chosen, why = find(preference)
        if chosen is None:
            raise HarnessError(f"no usable TensorRT module: {why}", "docs/tensorrt.md says how to install one")
        _ACTIVE = chosen
        return chosen


def current() -> Flavour | None:
    """The flavour this process has chosen, if it has chosen one yet."""
    return _ACTIVE


def active() -> Flavour:
    """The TensorRT module the backend's files bind to (activated with the default choice if need be)."""
    return _ACTIVE if _ACTIVE is not None else activate()
