"""ResNet50 v1.5 on ImageNet 2012 validation (MLPerf "resnet50")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.common import file_sha256
from harness.errors import HarnessError
from models.base import (
    AccuracyEntry,
    AccuracyResult,
    Dataset,
    ModelSpec,
    NetworkSpec,
    OnnxModel,
    Responses,
    TensorSpec,
    WeightsFile,
)
from models.resnet50.metric import ACCURACY_LOG_DTYPE, top1_accuracy

if TYPE_CHECKING:  # pragma: no cover
    import torch

class ResNet50(ModelSpec):
    name = "resnet50"
    aliases = ("resnet", "rn50")
    loadgen_name = "resnet50"
    mlperf_names = ("resnet50",)
    scenarios = ("Offline", "Server")
    # The preprocessed centre crop; the network does the float / mean step itself.
    sample_inputs = (TensorSpec("input", (3, 224, 224), "uint8"),)
    network = NetworkSpec(inputs=sample_inputs, outputs=(TensorSpec("argmax", (), "int64"),))
    # As published for the MLPerf reference (zenodo records 4588417 and 4735647).
    weights_files = (
        WeightsFile("torch", "resnet50-19c8e357.pth", "https://zenodo.org/record/4588417/files/resnet50-19c8e357.pth",
                    "9e9c86b324d80e65229fab49b8d9a8e8", "PyTorch weights (torch backend; exported to ONNX for others)"),
        WeightsFile("onnx", "resnet50_v1.onnx", "https://zenodo.org/record/4735647/files/resnet50_v1.onnx",
                    "f6a4da60cd5f084d97efc2c1ddb10beb", "the official ONNX model (onnxruntime, tensorrt)",
                    optional=True),
    )
    data_subdir = "imagenet"
    fetch_hint = "python scripts/prepare_imagenet.py --val-tar ILSVRC2012_img_val.tar"
    demo_sample_count = 256
    # MLCommons inference repo, calibration/ImageNet/cal_image_list_option_1.txt (500 images).
    calibration_list = "calibration/cal_image_list_option_1.txt"

    def __init__(self, weights: Path | None = None, seed: int = 0, options: Any = None, on_gpu: bool = False) -> None:
        super().__init__(weights, seed, options, on_gpu)
        # Index the network's argmax is shifted by: -1 for the 1001-class MLPerf ONNX model.
        self.label_offset = 0

    # -- data ---------------------------------------------------------------
    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from models.resnet50.dataset import ImageNetDataset

        return ImageNetDataset(data_dir, cache_dir / self.name)

    def write_demo_data(self, dest: Path, count: int) -> None:
        from models.resnet50.demo import write_demo_imagenet

        write_demo_imagenet(dest, count)

    # -- network ------------------------------------------------------------
    def torch_module(self) -> "torch.nn.Module":
        from models.resnet50 import network

        return network.build(self.weights, self.seed)

    def onnx_model(self, cache_dir: Path) -> OnnxModel:
        if self.weights is not None and self.weights.suffix.lower() == ".onnx":
            return self._mlperf_onnx(self.weights, cache_dir)
        from models.resnet50 import network

        tag = f"random-seed{self.seed}" if self.weights is None else file_sha256(self.weights)[:16]
        path = cache_dir / "onnx" / f"resnet50-{tag}.onnx"
        if not path.is_file():
            network.export_onnx(self.torch_module(), path)
        source = "exported from " + self.describe_weights()
        return OnnxModel(path, {"input": "input"}, {"argmax": "argmax"}, source)

    def _mlperf_onnx(self, path: Path, cache_dir: Path) -> OnnxModel:
        import onnx

        from models.resnet50.onnx_input import UINT8_INPUT, with_uint8_input

        try:
            graph = onnx.load(str(path), load_external_data=False).graph
        except Exception as exc:
            raise HarnessError(f"cannot read ONNX model {path}: {exc}",
                               f"re-download it with {self.weights_hint()} --all") from None
        inputs = [i for i in graph.input if i.name not in {init.name for init in graph.initializer}]
        if len(inputs) != 1:
            raise HarnessError(f"{path} has {len(inputs)} inputs; a ResNet50 classifier has one")
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or dims[1] != 3:
            raise HarnessError(f"{path} takes input shape {dims}; the harness feeds NCHW (N, 3, 224, 224)",
                               "use the opset-11 NCHW model resnet50_v1.onnx from zenodo record 4735647")
        argmax = [o.name for o in graph.output if o.type.tensor_type.elem_type in (6, 7)]  # int32/int64
        if not argmax:
            raise HarnessError(f"{path} has no integer (ArgMax) output", "use the MLPerf resnet50_v1.onnx")
        for out in graph.output:
            shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
            if len(shape) == 2 and shape[1] == 1001:
                self.label_offset = -1  # class 0 is "background" in the TF-trained model
        wrapped = cache_dir / "onnx" / f"{path.stem}-u8-{file_sha256(path)[:16]}.onnx"
        if not wrapped.is_file():
            with_uint8_input(path, inputs[0].name, wrapped)
        return OnnxModel(wrapped, {"input": UINT8_INPUT}, {"argmax": argmax[0]},
                         f"MLPerf ONNX {path} (uint8 input prefix added)")

    # -- results ------------------------------------------------------------
    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        classes = np.asarray(outputs["argmax"]).reshape(-1).astype(ACCURACY_LOG_DTYPE)
        if self.label_offset:
            classes += self.label_offset
        return Responses.rows(classes)

    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        from models.resnet50.dataset import ImageNetDataset

        if not isinstance(dataset, ImageNetDataset):
            raise TypeError(f"resnet50 scores ImageNet datasets, got {type(dataset).__name__}")
        result = top1_accuracy(entries, dataset.labels)
        if dataset.is_demo:
            result.notes.append("demo data has random labels: expect chance level (~0.1%)")
        if self.uses_random_weights:
            result.notes.append("random weights: expect chance level (~0.1%)")
        return result

    def extra_record(self) -> dict[str, Any]:
        return {"label_offset": self.label_offset, "accuracy_log_dtype": "int32",
                "network": "torchvision resnet50 (v1.5) + argmax"}


MODEL = ResNet50
