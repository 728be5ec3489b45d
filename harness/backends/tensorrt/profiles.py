"""Shapes: optimization profiles from the model's inputs and the system config's batch size, buffer
sizes, CUDA-graph batch sizes and dtype names. Pure functions: no TensorRT, no GPU."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.errors import HarnessError
from models.base import TensorSpec

# (graph name, min, opt, max): one input of one profile, as stored in the engine key.
ProfileEntry = tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]]
# An engine's (or parsed network's) tensors: graph name -> (shape with -1 for dynamic axes, numpy dtype).
TensorShapes = dict[str, tuple[tuple[int, ...], str]]


@dataclass(frozen=True)
class InputProfile:
    """min / opt / max shapes (batch axis first) of one engine input, by its ONNX graph name."""

    graph_name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def as_key(self) -> ProfileEntry:
        return (self.graph_name, self.min, self.opt, self.max)


def input_profiles(inputs: Sequence[TensorSpec], graph_names: Mapping[str, str], max_batch: int,
                   min_batch: int = 1) -> list[InputProfile]:
    """One profile's shapes: batch min_batch..max_batch (opt = max), sequence axes 1..max_shape (opt = max).

    Offline runs full batches and a short last one, Server anything from 1 up, so the range starts
    at 1; kernels are tuned for the full batch. A sequence axis (-1 in TensorSpec.shape) comes
    cropped to the longest sample of each batch, so it spans 1..its max_shape.
    """
    if max_batch < 1 or not 1 <= min_batch <= max_batch:
        raise HarnessError(f"bad batch range {min_batch}..{max_batch} for an optimization profile")
    profiles = []
    for spec in inputs:
        if spec.name not in graph_names:
            raise HarnessError(f"the ONNX model has no input mapped to '{spec.name}'",
                               "the model's onnx_model() must map every ModelSpec input to a graph input")
        if spec.sequence_axis is not None and spec.max_shape is None:
            raise HarnessError(f"input '{spec.name}' has a sequence axis but no max_shape",
                               "declare TensorSpec(max_shape=...) so engines know the longest sequence")
        full = spec.full_shape
        low = tuple(1 if dim == -1 else full[i] for i, dim in enumerate(spec.shape))
        profiles.append(InputProfile(graph_names[spec.name], (min_batch, *low), (max_batch, *full),
                                     (max_batch, *full)))
    return profiles


def engine_profiles(inputs: Sequence[TensorSpec], graph_names: Mapping[str, str], max_batch: int,
                    contexts: int) -> list[list[InputProfile]]:
    """``contexts`` identical profiles: every execution context (stream) on a GPU gets its own.

    TensorRT lets one profile serve one running context at a time, so N streams need N profiles.
    """
    if contexts < 1:
        raise HarnessError(f"need at least one execution context per GPU, got {contexts}")
    one = input_profiles(inputs, graph_names, max_batch)
    return [list(one) for _ in range(contexts)]


def profile_key(profiles: Sequence[Sequence[InputProfile]]) -> tuple[tuple[ProfileEntry, ...], ...]:
    return tuple(tuple(p.as_key() for p in profile) for profile in profiles)


def check_network_input(graph_name: str, network_shape: Sequence[int], profile: InputProfile) -> None:
    """The ONNX input's shape (-1 = dynamic) must admit the profile: fixed dims must match min = max."""
    if len(network_shape) != len(profile.max):
        raise HarnessError(
            f"ONNX input '{graph_name}' has {len(network_shape)} dimensions {tuple(network_shape)}; the model "
            f"declares {len(profile.max)} (batch first) {profile.max}",
            "re-export the ONNX model with the layout the model folder declares")
    for axis, dim in enumerate(network_shape):
        if dim == -1:
            continue
        if profile.min[axis] != dim or profile.max[axis] != dim:
            what = "batch" if axis == 0 else f"axis {axis}"
            raise HarnessError(
                f"ONNX input '{graph_name}' has a fixed {what} of {dim}, but the engine needs "
                f"{profile.min[axis]}..{profile.max[axis]}",
                "export the ONNX model with a dynamic batch (and sequence) axis, or set batch_size to "
                f"{dim} in the system config" if axis == 0 else "re-export the ONNX model with a dynamic axis")


def io_problems(found: Mapping[str, tuple[tuple[int, ...], str]], specs: Sequence[TensorSpec],
                graph_names: Mapping[str, str], what: str) -> tuple[list[str], list[str]]:
    """(shape and name problems, dtype differences) of engine tensors against the model's network spec.

    The batch axis may be dynamic or fixed; an axis the spec calls dynamic (-1) must be dynamic or its
    max_shape; a fixed axis must match unless TensorRT could not infer it (-1: known at run time).
    """
    shapes: list[str] = []
    dtypes: list[str] = []
    for spec in specs:
        graph = graph_names.get(spec.name, spec.name)
        if graph not in found:
            shapes.append(f"{what} '{graph}' (the model's '{spec.name}') is not in the engine "
                          f"(it has {', '.join(sorted(found)) or 'none'})")
            continue
        shape, dtype = found[graph]
        wanted = (-1, *spec.shape)
        label = f"{what} '{graph}'"
        if len(shape) != len(wanted):
            shapes.append(f"{label} has shape {shape}; the spec says (batch, *{spec.shape})")
            continue
        full = (-1, *spec.full_shape)
        for axis in range(1, len(shape)):
            dim, want = shape[axis], wanted[axis]
            if want == -1 and dim not in (-1, full[axis]):
                shapes.append(f"{label} axis {axis} is {dim}; the spec's dynamic axis reaches {full[axis]}")
            elif want != -1 and dim not in (-1, want):
                shapes.append(f"{label} axis {axis} is {dim}; the spec says {want}")
        if dtype != spec.dtype:
            dtypes.append(f"{label} is {dtype}, the spec says {spec.dtype}")
    return shapes, dtypes


# TensorRT DataType member name -> numpy dtype name (torch has a dtype attribute of the same name).
# Engine inputs and outputs travel through numpy on the host, so bf16 / fp8 I/O is not offered:
# those precisions live inside the engine, behind float32 or float16 I/O.
TRT_TO_NUMPY = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "INT64": "int64",
                "BOOL": "bool", "UINT8": "uint8"}


def dtype_name(trt_dtype_name: str) -> str:
    if trt_dtype_name not in TRT_TO_NUMPY:
        raise HarnessError(f"engine input/output type {trt_dtype_name} has no numpy equivalent",
                           "export the ONNX model with float32, float16, integer or bool inputs and outputs")
    return TRT_TO_NUMPY[trt_dtype_name]


def itemsize(dtype: str) -> int:
    return int(np.dtype(dtype).itemsize)


def buffer_elements(max_shape: Sequence[int]) -> int:
    """Elements of a buffer that holds a tensor of ``max_shape`` (batch axis included)."""
    if any(d < 0 for d in max_shape):
        raise HarnessError(
            f"an engine output has a data-dependent shape {tuple(max_shape)}",
            "the TensorRT backend needs outputs whose size follows from the input shapes (no NMS-style outputs)")
    return int(np.prod(max_shape, dtype=np.int64)) if max_shape else 1


def rows_elements(shape: Sequence[int], count: int) -> int:
    """Elements of the first ``count`` rows of a tensor whose full shape is ``shape``."""
    return count * int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else count
