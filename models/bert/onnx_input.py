"""Fit a given BERT ONNX file (MLPerf's fp32 model.onnx or the int8 fake-quant one) to the harness.

The harness feeds int64 input_ids / input_mask / segment_ids of shape [batch, seq], where
seq is the longest sample of the batch. MLPerf's files name the inputs differently in
places (attention_mask, token_type_ids) and fix seq at 384; for those the wrapper adds a
zero-padding step in front of the graph, so the logits come back for 384 positions.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from models.bert.preprocess import MAX_SEQ_LENGTH
from models.bert.shapes import INPUT_NAMES, OUTPUT_NAMES

# Graph input names seen in MLPerf's BERT files, per harness input.
_INPUT_ALIASES = {
    "input_ids": ("input_ids",),
    "input_mask": ("input_mask", "attention_mask"),
    "segment_ids": ("segment_ids", "token_type_ids"),
}
_FIX = "use MLPerf's model.onnx (zenodo 3733910) or bert_large_v1_1_fake_quant.onnx (zenodo 3750364)"


def _match_inputs(path: Path, names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for ours, aliases in _INPUT_ALIASES.items():
        hits = [n for n in names if n in aliases] or [n for n in names if any(a in n for a in aliases)]
        if len(hits) != 1:
            raise HarnessError(f"{path}: cannot tell which input is {ours} (inputs: {', '.join(names)})", _FIX)
        found[ours] = hits[0]
    return found


def _match_outputs(path: Path, names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for ours, key in zip(OUTPUT_NAMES, ("start", "end")):
        hits = [n for n in names if key in n.lower()]
        if len(hits) != 1:
            raise HarnessError(f"{path}: cannot tell which output is {ours} (outputs: {', '.join(names)})", _FIX)
        found[ours] = hits[0]
    return found


def inspect(path: Path) -> tuple[dict[str, str], dict[str, str], bool]:
    """(harness input -> graph input, harness output -> graph output, sequence axis fixed?)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # onnx raises several types for a bad file
        raise HarnessError(f"cannot read ONNX model {path}: {exc}", _FIX) from None
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    input_map = _match_inputs(path, [i.name for i in inputs])
    output_map = _match_outputs(path, [o.name for o in graph.output])
    fixed = False
    for graph_input in inputs:
        dims = graph_input.type.tensor_type.shape.dim
        if len(dims) != 2:
            raise HarnessError(f"{path}: input {graph_input.name} has rank {len(dims)}; BERT takes [batch, seq]",
                               _FIX)
        if dims[1].dim_value:
            if dims[1].dim_value != MAX_SEQ_LENGTH:
                raise HarnessError(f"{path}: input {graph_input.name} is fixed at {dims[1].dim_value} tokens; "
                                   f"the SQuAD features are {MAX_SEQ_LENGTH}", _FIX)
            fixed = True
    return input_map, output_map, fixed


def wrapped_input_name(ours: str) -> str:
    return f"harness_{ours}"


def with_harness_inputs(source: Path, input_map: dict[str, str], dest: Path) -> None:
    """Copy of ``source`` taking int64 [batch, seq] inputs (``wrapped_input_name``), padded to 384 inside."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 11:
        raise HarnessError(f"{source} uses ONNX opset {opset}; the padding step needs opset 11 or newer", _FIX)
    graph = model.graph
    nodes = [
        helper.make_node("Constant", [], ["harness_max_seq"],
                         value=helper.make_tensor("max_seq", TensorProto.INT64, [1], [MAX_SEQ_LENGTH])),
        helper.make_node("Constant", [], ["harness_zero_pads"],
                         value=helper.make_tensor("zero_pads", TensorProto.INT64, [3], [0, 0, 0])),
        helper.make_node("Constant", [], ["harness_one"],
                         value=helper.make_tensor("one", TensorProto.INT64, [1], [1])),
        helper.make_node("Constant", [], ["harness_two"],
                         value=helper.make_tensor("two", TensorProto.INT64, [1], [2])),
        # pads = [0, 0, 0, 384 - seq], from the first input's shape
        helper.make_node("Shape", [wrapped_input_name(INPUT_NAMES[0])], ["harness_shape"]),
        helper.make_node("Slice", ["harness_shape", "harness_one", "harness_two"], ["harness_seq"]),
        helper.make_node("Sub", ["harness_max_seq", "harness_seq"], ["harness_tail"]),
        helper.make_node("Concat", ["harness_zero_pads", "harness_tail"], ["harness_pads"], axis=0),
    ]
    new_inputs = []
    for ours in INPUT_NAMES:
        original = next(i for i in graph.input if i.name == input_map[ours])
        elem_type = original.type.tensor_type.elem_type
        padded = f"harness_{ours}_padded"
        nodes.append(helper.make_node("Pad", [wrapped_input_name(ours), "harness_pads"], [padded], mode="constant"))
        if elem_type == TensorProto.INT64:
            nodes.append(helper.make_node("Identity", [padded], [original.name]))
        else:
            nodes.append(helper.make_node("Cast", [padded], [original.name], to=elem_type))
        graph.input.remove(original)
        new_inputs.append(helper.make_tensor_value_info(wrapped_input_name(ours), TensorProto.INT64, ["batch", "seq"]))
    for value in reversed(new_inputs):
        graph.input.insert(0, value)
    for node in reversed(nodes):
        graph.node.insert(0, node)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial.onnx")
    onnx.save(model, str(partial))
    partial.replace(dest)
