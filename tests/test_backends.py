"""Backends on real preprocessed demo images: torch and onnxruntime agree; the MLPerf ONNX interface works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.backends import BackendContext, backend_class, backend_names
from harness.errors import HarnessError
from harness.machine.host import GpuInfo, HostInfo
from harness.resolve import choose_backend
from models.resnet50 import ResNet50
from models.resnet50.dataset import ImageNetDataset
from models.resnet50.demo import write_demo_imagenet
from models.resnet50.preprocess import to_network_input


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    root = tmp_path_factory.mktemp("demo")
    write_demo_imagenet(root / "data", 4)
    return ImageNetDataset(root / "data", root / "cache").load(np.arange(4))["input"]


def test_registry_and_lazy_imports() -> None:
    assert backend_names() == ["null", "onnxruntime", "tensorrt", "tensorrt-llm", "torch"]
    with pytest.raises(HarnessError, match="unknown backend"):
        backend_class("tensorflow")


def test_auto_choice_and_reason() -> None:
    cpu = HostInfo("cpu", 2, 8.0, "Linux", ())
    assert choose_backend(cpu, "auto", ResNet50) == ("onnxruntime", "no GPU: ONNX Runtime on the CPU")
    with pytest.raises(HarnessError, match="GPU was asked for"):
        choose_backend(cpu, "cuda", ResNet50)
    gpu = HostInfo("cpu", 2, 8.0, "Linux", (GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559),))
    name, reason = choose_backend(gpu, "auto", ResNet50)
    import torch

    # No TensorRT here: torch on CUDA where torch sees a GPU, else ONNX Runtime on the CPU.
    assert name == ("torch" if torch.cuda.is_available() else "onnxruntime")
    assert "1x NVIDIA H100 80GB HBM3" in reason and "tensorrt unusable" in reason


def test_null_backend_gives_fixed_valid_outputs() -> None:
    backend = backend_class("null")(ResNet50(), BackendContext(max_batch_size=8))
    (runner,) = backend.runners()
    out = runner.infer({}, 5)
    assert out["argmax"].shape == (5,) and not out["argmax"].any()
    assert len(ResNet50().postprocess(out, np.arange(5))) == 5


def test_torch_and_onnxruntime_agree(crops: np.ndarray, tmp_path: Path) -> None:
    model = ResNet50(seed=1)
    context = BackendContext(max_batch_size=4, cache_dir=tmp_path)
    torch_out = backend_class("torch")(model, context).runners()[0].infer({"input": crops}, 4)
    ort_backend = backend_class("onnxruntime")(model, context)
    ort_out = ort_backend.runners()[0].infer({"input": crops}, 4)
    assert torch_out["argmax"].shape == (4,)
    np.testing.assert_array_equal(torch_out["argmax"], ort_out["argmax"])
    assert ort_backend.onnx.path.is_file() and ort_backend.onnx.path.parent == tmp_path / "onnx"


def _mlperf_style_onnx(path: Path) -> np.ndarray:
    """A stand-in with the official model's interface: float NCHW 'input_tensor:0', 1001 classes,
    int64 'ArgMax:0' and 'softmax_tensor:0' outputs. Returns its weight matrix."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(5).normal(size=(3, 1001)).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input_tensor:0"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["ArgMax:0"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "rn50_interface",
        [helper.make_tensor_value_info("input_tensor:0", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("softmax_tensor:0", TensorProto.FLOAT, ["N", 1001])],
        [numpy_helper.from_array(weights, "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return weights


def test_mlperf_onnx_gets_the_uint8_input_and_label_offset(crops: np.ndarray, tmp_path: Path) -> None:
    weights = _mlperf_style_onnx(tmp_path / "resnet50_v1.onnx")
    model = ResNet50(weights=tmp_path / "resnet50_v1.onnx")
    backend = backend_class("onnxruntime")(model, BackendContext(max_batch_size=4, cache_dir=tmp_path))
    assert model.label_offset == -1
    out = backend.runners()[0].infer({"input": crops}, 4)
    expected = (to_network_input(crops).mean(axis=(2, 3)) @ weights).argmax(axis=1)
    np.testing.assert_array_equal(out["argmax"], expected)
    logged = model.postprocess(out, np.arange(4))
    assert np.frombuffer(logged.sample_bytes(0), np.int32)[0] == expected[0] - 1


def test_torch_backend_refuses_onnx_weights(tmp_path: Path) -> None:
    _mlperf_style_onnx(tmp_path / "resnet50_v1.onnx")
    with pytest.raises(HarnessError, match="PyTorch backends need the PyTorch weights"):
        backend_class("torch")(ResNet50(weights=tmp_path / "resnet50_v1.onnx"), BackendContext())


def test_torch_backend_reads_a_torchvision_state_dict(tmp_path: Path, crops: np.ndarray) -> None:
    import torch
    import torchvision

    torch.manual_seed(11)
    reference = torchvision.models.resnet50().eval()
    torch.save(reference.state_dict(), tmp_path / "resnet50.pth")
    backend = backend_class("torch")(ResNet50(weights=tmp_path / "resnet50.pth"), BackendContext(max_batch_size=4))
    got = backend.runners()[0].infer({"input": crops}, 4)["argmax"]
    x = (torch.from_numpy(crops).float() / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / \
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = reference(x).argmax(1).numpy()
    np.testing.assert_array_equal(got, expected)
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(HarnessError, match="cannot load weights"):
        backend_class("torch")(ResNet50(weights=tmp_path / "garbage.pth"), BackendContext())
