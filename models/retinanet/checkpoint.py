"""Load the MLPerf RetinaNet PyTorch weights into the torchvision-built detector.

Two published forms exist:
- ``resnext50_32x4d_fpn.pth`` (zenodo record 6617981, used by MLCommons' reference):
  the whole model pickled with ``torch.save(model)``; unpickling it normally needs the
  MLPerf training code (``model.retinanet``) on the path. We read it without that code:
  every class is replaced by an inert stand-in that only keeps the object's attributes,
  tensors are rebuilt by torch's own functions, and the parameters and buffers are
  collected from the module tree. Nothing in the file gets executed.
- a training checkpoint (``model_10.pth`` in zenodo record 6605272): a dict whose
  ``"model"`` entry is the state dict.

The training model's parameter names are torchvision's older ones
(``fpn.inner_blocks.0.weight``, ``head.*.conv.0/2/4/6.weight``); torchvision maps
them onto its current layout when it loads a state dict without version metadata.
"""

from __future__ import annotations

import pickle
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError

_FETCH = "python scripts/fetch_weights.py --model retinanet downloads resnext50_32x4d_fpn.pth (zenodo record 6617981)"

# Functions and classes a pickled module may name; every other global becomes a stand-in.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): torch._tensor._rebuild_from_type_v2,
    ("torch", "Tensor"): torch.Tensor,
    ("torch.nn.parameter", "Parameter"): nn.Parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


_PY2_NAMES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _StandIn:
    """Replaces a class from the pickle: accepts any construction and keeps the pickled state."""

    pickled_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __call__(self, *args: Any, **kwargs: Any) -> "_StandIn":
        return _StandIn()


def _stand_in(module: str, name: str) -> type:
    return type(name, (_StandIn,), {"pickled_name": f"{module}.{name}"})


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_NAMES.get(module, module)  # torch.save writes pickle protocol 2
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return _stand_in(module, name)


_inert_pickle = types.SimpleNamespace(Unpickler=_InertUnpickler, __name__="inert_pickle",
                                      load=lambda f, **kw: _InertUnpickler(f, **kw).load())


def _collect(obj: Any, prefix: str, state: dict[str, torch.Tensor], eps: set[float]) -> None:
    """Parameters and persistent buffers of a (stand-in) module tree, named like state_dict()."""
    attrs = getattr(obj, "__dict__", {})
    if "FrozenBatchNorm2d" in getattr(type(obj), "pickled_name", "") and "eps" in attrs:
        eps.add(float(attrs["eps"]))
    non_persistent = attrs.get("_non_persistent_buffers_set", set())
    for kind in ("_parameters", "_buffers"):
        for name, tensor in (attrs.get(kind) or {}).items():
            if tensor is not None and name not in non_persistent:
                state[prefix + name] = tensor.detach()
    for name, child in (attrs.get("_modules") or {}).items():
        if child is not None:
            _collect(child, f"{prefix}{name}.", state, eps)


def _unwrap(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    return None


def reject_onnx(path: Path) -> None:
    if path.suffix.lower() == ".onnx":
        raise HarnessError(f"{path} is an ONNX model; the harness needs the PyTorch weights and exports "
                           "its own ONNX graph from them (with fixed-shape detection outputs)",
                           f"pass --weights resnext50_32x4d_fpn.pth ({_FETCH})")


def load_mlperf_state(path: Path) -> tuple[dict[str, torch.Tensor], float]:
    """(state dict, frozen batch-norm eps) from either published form of the weights."""
    reject_onnx(path)
    eps: set[float] = set()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # the whole model was pickled: read it inertly
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_inert_pickle)
        except Exception as exc:  # torch raises many types for a bad file
            raise HarnessError(f"cannot read weights {path}: {exc}", _FETCH) from None
    except Exception as exc:
        raise HarnessError(f"cannot read weights {path}: {str(exc)[:300]}",
                           f"{_FETCH}; a training checkpoint zip must be unpacked first") from None
    state = _unwrap(obj)
    if state is None:
        state = {}
        _collect(obj, "", state, eps)
    if not state:
        raise HarnessError(f"{path} holds no RetinaNet weights (found {type(obj).__name__})", _FETCH)
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    return state, (eps.pop() if len(eps) == 1 else 1e-5)


def apply_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load into the detector; a clear error when the file is some other network."""
    plain = OrderedDict(state)  # no version metadata: torchvision renames the training model's keys
    try:
        model.load_state_dict(plain, strict=True)
    except RuntimeError as exc:
        raise HarnessError(f"{path} does not match MLPerf's RetinaNet ResNeXt50-FPN (264 classes): "
                           f"{str(exc)[:400]}", _FETCH) from None
