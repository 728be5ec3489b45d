"""Turning TensorRT's failures into HarnessErrors that say what broke and what to do. Pure code."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

_MEMORY_WORDS = re.compile(r"out of memory|could not be allocated|insufficient (device )?memory|"
                           r"cudaErrorMemoryAllocation|OutOfMemory|allocation failed|exceeds.*memory",
                           re.IGNORECASE)


@dataclass(frozen=True)
class ParserProblem:
    """One OnnxParser error, in plain values (ParserError's methods read out)."""

    node_index: int
    node_name: str
    operator: str
    description: str
    code: str


def parser_failure(onnx_path: Path, problems: Sequence[ParserProblem]) -> HarnessError:
    lines = []
    for p in problems[:10]:
        where = f"node {p.node_index}" if p.node_index >= 0 else "the graph"
        if p.node_name:
            where += f" '{p.node_name}'"
        if p.operator:
            where += f" ({p.operator})"
        lines.append(f"  {where}: {p.description} [{p.code}]")
    if len(problems) > 10:
        lines.append(f"  ... and {len(problems) - 10} more")
    unsupported = any("UNSUPPORTED" in p.code.upper() or "no importer" in p.description.lower() for p in problems)
    mixed = any("same input types" in p.description for p in problems)
    if unsupported:
        fix = ("the ONNX model uses an operator this TensorRT cannot import: re-export with another opset, "
               "or run it with --backend torch / onnxruntime")
    elif mixed:
        fix = ("a strongly typed network takes the ONNX's tensor types as they are, and this node mixes float32 "
               "and float16 inputs: delete the converted file to convert it again, use precision fp32, or pass "
               "a consistently typed ONNX with --weights")
    else:
        fix = f"check the ONNX file ({onnx_path}); delete it to re-export, or run with --backend torch"
    detail = "\n".join(lines) if lines else "  (the parser reported no details)"
    return HarnessError(f"TensorRT cannot parse {onnx_path}:\n{detail}", fix)


def is_out_of_memory(messages: Sequence[str]) -> bool:
    return any(_MEMORY_WORDS.search(m) for m in messages)


@dataclass(frozen=True)
class Refusal:
    """A build error TensorRT gives for one layer of a graph it parsed, and the way out."""

    pattern: re.Pattern[str]  # named groups: layer (TensorRT names layers after their ONNX nodes), limit
    what: str  # completed with the match's groups and {tensorrt}, the flavour's name
    fix: str


REFUSALS = (
    Refusal(re.compile(r"ITopKLayer (?P<layer>[^:\s]+):.*K exceeds the maximum value allowed \((?P<limit>\d+)\)"),
            "a TopK (a sort or top-k in the exported model) asks for more than {limit} elements, the most "
            "TensorRT's TopK returns",
            "the model's ONNX export must keep every TopK's K <= {limit} (e.g. select the top detections after "
            "NMS instead of sorting every candidate first); until then run it with --backend torch or onnxruntime"),
    # TensorRT for RTX has no kernels for data-dependent-shape layers such as NonMaxSuppression and NonZero
    # (NVIDIA/TensorRT-RTX issue 5); full TensorRT has them.
    Refusal(re.compile(r"(?P<layer>\S+) has no runners that implement it"),
            "{tensorrt} has no kernel for this layer",
            "build with full TensorRT (--set flavour=tensorrt: TensorRT 10.x or 11.x), or run it with "
            "--backend torch or onnxruntime"),
)


def _onnx_node(layer: str, onnx_ops: Mapping[str, str]) -> str:
    """The ONNX node a TensorRT layer came from: the same name, or the name before a '_<n>' suffix."""
    for name in (layer, re.sub(r"_\d+$", "", layer)):
        if name in onnx_ops:
            return f"ONNX node '{name}' ({onnx_ops[name]})"
    return f"layer '{layer}'"


def refused_layer(messages: Sequence[str], onnx_ops: Mapping[str, str],
                  tensorrt: str = "TensorRT") -> HarnessError | None:
    """A HarnessError naming the ONNX node TensorRT refused to build, when the log shows a known refusal."""
    for message in messages:
        for refusal in REFUSALS:
            found = refusal.pattern.search(message)
            if found is None:
                continue
            groups = {**found.groupdict(), "tensorrt": tensorrt}
            node = _onnx_node(groups["layer"], onnx_ops)
            return HarnessError(f"{tensorrt} refuses to build {node}: {refusal.what.format(**groups)}\n  {message}",
                                refusal.fix.format(**groups))
    return None


def build_failure(messages: Sequence[str], max_batch: int, workspace_mib: int | None, precision: str,
                  onnx_ops: Mapping[str, str] | None = None, tensorrt: str = "TensorRT") -> HarnessError:
    """build_serialized_network returned nothing: say why, from what TensorRT logged."""
    refused = refused_layer(messages, onnx_ops or {}, tensorrt)
    if refused is not None:
        return refused
    shown = "\n".join(f"  {m}" for m in list(messages)[-8:]) or "  (TensorRT logged no error)"
    if is_out_of_memory(messages):
        workspace = f"{workspace_mib} MiB" if workspace_mib else "TensorRT's default (all free GPU memory)"
        smaller = max(1, max_batch // 2)
        return HarnessError(
            f"building the {precision} engine (batch {max_batch}, workspace {workspace}) ran out of GPU memory:\n"
            f"{shown}",
            f"use a smaller batch (--batch-size {smaller}, or batch_size in the system config), set a smaller "
            "workspace_mib, or free the GPU (nvidia-smi shows what else runs)")
    return HarnessError(f"TensorRT failed to build the {precision} engine:\n{shown}",
                        "rerun with TRT_VERBOSE=1 for TensorRT's full log; try precision fp16, or --backend torch")


def deserialize_failure(plan: Path, messages: Sequence[str]) -> str:
    """Why a cached plan would not load (the caller rebuilds it and prints this)."""
    last = messages[-1] if messages else "no message from TensorRT"
    return f"TensorRT could not load {plan.name} ({last})"


def precision_problem(precision: str, compute_capability: str) -> str:
    """'' when a GPU of this compute capability has kernels for ``precision`` engines, else why not.

    (TensorRT 10.5 deprecated Builder.platform_has_fast_fp16 / _int8 in favour of asking CUDA, and
    TensorRT 11 and TensorRT for RTX have neither: the compute capability is what CUDA says.)
    """
    try:
        major, minor = (int(x) for x in compute_capability.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if precision == "fp8" and (major, minor) < (8, 9):
        return (f"fp8 needs an Ada or Hopper GPU or newer (compute capability 8.9+); this one is "
                f"{compute_capability}: use int8 or fp16")
    if precision == "int8" and (major, minor) < (6, 1):
        return "this GPU has no fast INT8 path: use fp16"
    if precision in ("fp16", "int8") and (major, minor) < (5, 3):
        return "this GPU has no fast FP16 path: use fp32"
    if precision == "bf16" and major < 8:
        return f"bf16 needs an Ampere GPU or newer (compute capability 8.0+); this one is {compute_capability}"
    return ""
