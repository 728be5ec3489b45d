"""fp16-typed ONNX for strongly typed TensorRT (11.x, TensorRT for RTX), which has no FP16 builder flag.

The model's fp32 ONNX is converted once with ONNX Runtime's float16 converter
(``onnxruntime.transformers.float16``, maintained with onnxruntime, which the harness pins anyway):
float tensors and initializers become float16, ``Cast(to=float)`` nodes become ``Cast(to=float16)``,
and the graph's own inputs and outputs keep their types (``keep_io_types``), so the engine's I/O still
matches the model's network spec. Ops the converter keeps in float32 (TopK, NonMaxSuppression,
Resize, Range, CumSum, ...) get casts around them. The result is cached beside the model's other
exports, keyed by the source file's sha256 and the converter's version.
"""

from __future__ import annotations

import os
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from harness.common import file_sha256
from harness.errors import HarnessError
from models.specs import OnnxModel

FLOAT = 1  # onnx.TensorProto.FLOAT
FLOAT16 = 10  # onnx.TensorProto.FLOAT16


def converter_version() -> str:
    try:
        return metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        return "unknown"


def fp16_path(source: Path, cache_dir: Path, source_sha256: str) -> Path:
    return cache_dir / "onnx" / f"{source.stem}-fp16-{source_sha256[:16]}-ort{converter_version()}.onnx"


def is_fp16_typed(path: Path) -> bool:
    """True when the graph's weights are already float16 (nothing left to convert)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    types = {init.data_type for init in graph.initializer}
    return FLOAT16 in types and FLOAT not in types


def typed_fp16(model: OnnxModel, cache_dir: Path, source_sha256: str | None = None) -> OnnxModel:
    """The same network with float16 weights and arithmetic, graph I/O types unchanged (cached; pass the
    source's sha256 when it is known already)."""
    target = fp16_path(model.path, cache_dir, source_sha256 or file_sha256(model.path))
    if not target.is_file():
        if is_fp16_typed(model.path):
            return model
        convert(model.path, target)
    return replace(model, path=target, source=f"{model.source} (converted to fp16 by onnxruntime's "
                                               f"float16 converter {converter_version()})")


def convert(source: Path, target: Path) -> None:
    import onnx

    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise HarnessError(f"fp16 engines for strongly typed TensorRT need onnxruntime's float16 converter ({exc})",
                           "pip install -r requirements.txt (it pins onnxruntime)") from None
    loaded = onnx.load(str(source))
    try:
        converted = convert_float_to_float16(loaded, keep_io_types=True)
    except Exception as exc:  # the converter raises many types on graphs it cannot handle
        raise HarnessError(f"cannot convert {source} to an fp16-typed graph: {exc}",
                           "use precision fp32, or pass an fp16 ONNX with --weights") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.partial.onnx")
    large = converted.ByteSize() > 2**31 - 1024  # protobuf's limit: weights go to a side file
    onnx.save(converted, str(partial), save_as_external_data=large,
              location=f"{target.name}.data" if large else None)
    os.replace(partial, target)
