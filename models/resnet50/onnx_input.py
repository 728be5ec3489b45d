"""Give the MLPerf ResNet50 ONNX model (float, mean-subtracted input) the harness's uint8 input.

Prepends Cast(uint8 -> float) and Sub(mean) - the float step of the MLPerf
preprocessing - so the same cached crops feed every backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.resnet50.preprocess import MEAN_RGB

UINT8_INPUT = "input_u8"


def with_uint8_input(source: Path, input_name: str, dest: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    original = next(i for i in graph.input if i.name == input_name)
    dims = [d.dim_param or d.dim_value for d in original.type.tensor_type.shape.dim]
    new_input = helper.make_tensor_value_info(UINT8_INPUT, TensorProto.UINT8, dims)
    mean = numpy_helper.from_array(MEAN_RGB.reshape(1, 3, 1, 1).astype(np.float32), name="mlperf_mean_rgb")
    cast = helper.make_node("Cast", [UINT8_INPUT], ["input_f32"], to=TensorProto.FLOAT, name="mlperf_cast")
    sub = helper.make_node("Sub", ["input_f32", "mlperf_mean_rgb"], [input_name], name="mlperf_sub_mean")
    graph.input.remove(original)
    graph.input.insert(0, new_input)
    graph.initializer.append(mean)
    for node in reversed((cast, sub)):
        graph.node.insert(0, node)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial.onnx")
    onnx.save(model, str(partial))
    partial.replace(dest)
