"""fp16-typed ONNX for strongly typed TensorRT: the conversion keeps the graph's I/O types, turns the
in-graph Cast(to=float) into float16 (a converter that does not makes every such graph unparseable as a
strongly typed network: Float and Half meet at the next node), and is cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.backends.tensorrt import flavour as flavours
from harness.backends.tensorrt.typed_onnx import FLOAT16, is_fp16_typed, typed_fp16
from models.specs import OnnxModel


def _uint8_scaler(path: Path) -> OnnxModel:
    """uint8 image -> Cast(float) -> * scale + shift -> ReduceMax: the shape of the models' input step."""
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", 3, 8, 8])
    out = helper.make_tensor_value_info("peak", TensorProto.FLOAT, ["batch", 1, 1, 1])
    scale = numpy_helper.from_array(np.full((1, 3, 1, 1), 1 / 255, np.float32), "scale")
    shift = numpy_helper.from_array(np.array([-0.5, -0.4, -0.3], np.float32).reshape(1, 3, 1, 1), "shift")
    nodes = [helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT, name="/Cast"),
             helper.make_node("Mul", ["x", "scale"], ["y"], name="/Mul"),
             helper.make_node("Add", ["y", "shift"], ["z"], name="/Add"),
             helper.make_node("ReduceMax", ["z"], ["peak"], keepdims=1, name="/ReduceMax")]
    graph = helper.make_graph(nodes, "scaler", [image], [out], [scale, shift])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return OnnxModel(path, {"image": "image"}, {"peak": "peak"}, "test graph")


def test_fp16_conversion_keeps_io_types_and_is_cached(tmp_path: Path) -> None:
    source = _uint8_scaler(tmp_path / "scaler.onnx")
    assert not is_fp16_typed(source.path)
    typed = typed_fp16(source, tmp_path / "cache")
    assert typed.path.parent == tmp_path / "cache" / "onnx" and "-fp16-" in typed.path.name
    assert typed.input_names == source.input_names and "converted to fp16" in typed.source
    graph = onnx.load(str(typed.path)).graph
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    cast = next(n for n in graph.node if n.name == "/Cast")
    assert cast.attribute[0].i == FLOAT16
    assert is_fp16_typed(typed.path)
    stamp = typed.path.stat().st_mtime_ns
    assert typed_fp16(source, tmp_path / "cache").path == typed.path and typed.path.stat().st_mtime_ns == stamp
    assert typed_fp16(typed, tmp_path / "cache") == typed  # already typed: left as it is


RTX, WHY = flavours.find("tensorrt_rtx")


@pytest.mark.skipif(RTX is None, reason=f"needs TensorRT for RTX: {WHY}")
def test_the_typed_graph_parses_as_a_strongly_typed_network(tmp_path: Path) -> None:
    assert RTX is not None
    typed = typed_fp16(_uint8_scaler(tmp_path / "scaler.onnx"), tmp_path / "cache")
    trt = RTX.module

    class Quiet(trt.ILogger):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: object, msg: str) -> None:
            pass

    logger = Quiet()
    network = trt.Builder(logger).create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse_from_file(str(typed.path)), [parser.get_error(i).desc() for i in range(parser.num_errors)]
    mul = next(network.get_layer(i) for i in range(network.num_layers) if network.get_layer(i).name == "/Mul")
    assert mul.get_output(0).dtype == trt.DataType.HALF
