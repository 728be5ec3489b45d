"""Turning TensorRT's failures into HarnessErrors that say what broke and what to do. Pure code."""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    fix = ("the ONNX model uses an operator this TensorRT cannot import: re-export with another opset, "
           "or run it with --backend torch / onnxruntime") if unsupported else (
        f"check the ONNX file ({onnx_path}); delete it to re-export, or run with --backend torch")
    detail = "\n".join(lines) if lines else "  (the parser reported no details)"
    return HarnessError(f"TensorRT cannot parse {onnx_path}:\n{detail}", fix)


def is_out_of_memory(messages: Sequence[str]) -> bool:
    return any(_MEMORY_WORDS.search(m) for m in messages)


def build_failure(messages: Sequence[str], max_batch: int, workspace_mib: int | None, precision: str) -> HarnessError:
    """build_serialized_network returned nothing: say why, from what TensorRT logged."""
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


def precision_problem(precision: str, compute_capability: str, has_fast_fp16: bool,
                      has_fast_int8: bool) -> str:
    """'' when the GPU can build ``precision`` engines, else why not."""
    try:
        major, minor = (int(x) for x in compute_capability.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if precision == "fp8" and (major, minor) < (8, 9):
        return (f"fp8 needs an Ada or Hopper GPU or newer (compute capability 8.9+); this one is "
                f"{compute_capability}: use int8 or fp16")
    if precision == "int8" and not has_fast_int8:
        return "this GPU has no fast INT8 path: use fp16"
    if precision in ("fp16", "int8") and not has_fast_fp16:
        return "this GPU has no fast FP16 path: use fp32"
    if precision == "bf16" and major < 8:
        return f"bf16 needs an Ampere GPU or newer (compute capability 8.0+); this one is {compute_capability}"
    return ""


# BuilderFlag member names each precision sets. int8 and fp8 keep fp16 on, so layers without an
# int8 / fp8 kernel fall back to fp16, not to fp32 (what NVIDIA's MLPerf engines do).
PRECISION_FLAGS: dict[str, tuple[str, ...]] = {
    "fp32": (),
    "fp16": ("FP16",),
    "bf16": ("BF16",),
    "int8": ("INT8", "FP16"),
    "fp8": ("FP8", "FP16"),
}
