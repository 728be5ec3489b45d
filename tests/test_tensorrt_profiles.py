"""Optimization profiles, shape checks, CUDA-graph sizes and buffer sizing (no TensorRT needed)."""

from __future__ import annotations

import pytest

from harness.backends.device_samples import graph_batch_sizes, pick_graph_size
from harness.backends.tensorrt.profiles import (
    InputProfile,
    buffer_elements,
    check_network_input,
    dtype_name,
    engine_profiles,
    input_profiles,
    io_problems,
    profile_key,
    rows_elements,
)
from harness.errors import HarnessError
from models.base import TensorSpec
from models.bert import Bert
from models.resnet50 import ResNet50
from models.retinanet import RetinaNet

assert ResNet50.network is not None
RESNET50_INPUTS = ResNet50.network.inputs
BERT_LIKE = (TensorSpec("input_ids", (-1,), "int32", max_shape=(384,)),
             TensorSpec("input_mask", (-1,), "int32", max_shape=(384,)),
             TensorSpec("segment_ids", (-1,), "int32", max_shape=(384,)))


def test_resnet50_profile_spans_one_to_the_batch_size() -> None:
    [profile] = input_profiles(RESNET50_INPUTS, {"input": "input_u8"}, 2048)
    assert profile == InputProfile("input_u8", (1, 3, 224, 224), (2048, 3, 224, 224), (2048, 3, 224, 224))


def test_sequence_axis_spans_one_to_max_shape() -> None:
    graph = {s.name: s.name for s in BERT_LIKE}
    profiles = input_profiles(BERT_LIKE, graph, 128)
    assert [p.graph_name for p in profiles] == ["input_ids", "input_mask", "segment_ids"]
    assert all(p.min == (1, 1) and p.opt == (128, 384) and p.max == (128, 384) for p in profiles)


def test_sequence_axis_without_max_shape_or_unmapped_input_is_an_error() -> None:
    with pytest.raises(HarnessError, match="no max_shape"):
        input_profiles((TensorSpec("ids", (-1,), "int32"),), {"ids": "ids"}, 8)
    with pytest.raises(HarnessError, match="no input mapped to 'input'"):
        input_profiles(RESNET50_INPUTS, {}, 8)
    with pytest.raises(HarnessError, match="bad batch range"):
        input_profiles(RESNET50_INPUTS, {"input": "x"}, 0)


def test_one_profile_per_execution_context() -> None:
    profiles = engine_profiles(RESNET50_INPUTS, {"input": "input"}, 256, contexts=3)
    assert len(profiles) == 3 and profiles[0] == profiles[2]
    key = profile_key(profiles)
    assert hash(key) and key[1][0] == ("input", (1, 3, 224, 224), (256, 3, 224, 224), (256, 3, 224, 224))
    with pytest.raises(HarnessError):
        engine_profiles(RESNET50_INPUTS, {"input": "input"}, 256, contexts=0)


def test_network_shape_must_admit_the_profile() -> None:
    profile = InputProfile("input", (1, 3, 224, 224), (64, 3, 224, 224), (64, 3, 224, 224))
    check_network_input("input", (-1, 3, 224, 224), profile)
    check_network_input("input", (-1, -1, -1, -1), profile)
    with pytest.raises(HarnessError, match="fixed batch of 1") as caught:
        check_network_input("input", (1, 3, 224, 224), profile)
    assert "dynamic batch" in str(caught.value.fix)
    with pytest.raises(HarnessError, match="fixed axis 2 of 299"):
        check_network_input("input", (-1, 3, 299, 299), profile)
    with pytest.raises(HarnessError, match="3 dimensions"):
        check_network_input("input", (-1, 3, 224), profile)


def test_graph_batch_sizes_cover_every_batch_with_at_most_double_padding() -> None:
    assert graph_batch_sizes(2048) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    assert graph_batch_sizes(1) == [1]
    assert graph_batch_sizes(6) == [1, 2, 4, 6]
    sizes = graph_batch_sizes(200)
    for count in range(1, 201):
        chosen = pick_graph_size(sizes, count)
        assert chosen is not None and count <= chosen < 2 * count
    assert pick_graph_size(sizes, 201) is None


def test_dtypes_and_buffer_sizes() -> None:
    assert dtype_name("FLOAT") == "float32" and dtype_name("UINT8") == "uint8" and dtype_name("INT64") == "int64"
    with pytest.raises(HarnessError, match="BF16"):
        dtype_name("BF16")
    assert buffer_elements((2048, 3, 224, 224)) == 2048 * 3 * 224 * 224
    assert buffer_elements((64,)) == 64
    with pytest.raises(HarnessError, match="data-dependent"):
        buffer_elements((64, -1, 4))
    assert rows_elements((128, 384, 2), 5) == 5 * 384 * 2
    assert rows_elements((128,), 5) == 5


def _spec_io(specs: tuple[TensorSpec, ...]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {s.name: ((-1, *s.shape), s.dtype) for s in specs}


def test_engine_io_is_checked_against_the_network_spec() -> None:
    for model in (ResNet50, RetinaNet, Bert):
        assert model.network is not None
        for specs in (model.network.inputs, model.network.outputs):
            names = {s.name: s.name for s in specs}
            assert io_problems(_spec_io(specs), specs, names, "output") == ([], [])
    assert RetinaNet.network is not None
    outputs = RetinaNet.network.outputs
    names = {s.name: s.name for s in outputs}
    found = _spec_io(outputs)
    found["boxes"] = ((-1, -1, 4), "float32")  # an axis TensorRT could not infer is known at run time
    found["scores"] = ((-1, 100), "float16")
    del found["count"]
    shapes, dtypes = io_problems(found, outputs, names, "output")
    assert shapes == ["output 'scores' axis 1 is 100; the spec says 1000",
                      "output 'count' (the model's 'count') is not in the engine (it has boxes, labels, scores)"]
    assert dtypes == ["output 'scores' is float16, the spec says float32"]
    seq = BERT_LIKE[0]
    fixed_ok = io_problems({"input_ids": ((-1, 384), "int32")}, (seq,), {"input_ids": "input_ids"}, "input")
    assert fixed_ok == ([], [])
    short, _ = io_problems({"input_ids": ((-1, 128), "int32")}, (seq,), {"input_ids": "input_ids"}, "input")
    assert short == ["input 'input_ids' axis 1 is 128; the spec's dynamic axis reaches 384"]
    rank, _ = io_problems({"input_ids": ((-1,), "int32")}, (seq,), {"input_ids": "input_ids"}, "input")
    assert "has shape (-1,)" in rank[0]
