"""RetinaNet ResNeXt50-FPN 800x800 on the MLPerf OpenImages subset (MLPerf "retinanet")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.common import file_sha256
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
from models.retinanet.records import detection_records

if TYPE_CHECKING:  # pragma: no cover
    import torch

IMAGE_SIZE = 800
MAX_DETECTIONS = 1000


class RetinaNet(ModelSpec):
    name = "retinanet"
    aliases = ("retinanet-resnext50",)
    loadgen_name = "retinanet"
    mlperf_names = ("retinanet",)
    scenarios = ("Offline", "Server")
    # The resized RGB image as uint8; the network does the / 255 and normalisation itself.
    sample_inputs = (TensorSpec("images", (3, IMAGE_SIZE, IMAGE_SIZE), "uint8"),)
    # Fixed-shape detections: rows past "count" are padding.
    network = NetworkSpec(inputs=sample_inputs, outputs=(
        TensorSpec("boxes", (MAX_DETECTIONS, 4), "float32"),
        TensorSpec("scores", (MAX_DETECTIONS,), "float32"),
        TensorSpec("labels", (MAX_DETECTIONS,), "int64"),
        TensorSpec("count", (), "int64"),
    ))
    # The model MLCommons' reference runs (zenodo record 6617981, mAP 0.3755); every backend uses it:
    # onnxruntime and TensorRT get an ONNX graph exported from it.
    weights_files = (
        WeightsFile("torch", "resnext50_32x4d_fpn.pth", "https://zenodo.org/record/6617981/files/resnext50_32x4d_fpn.pth",
                    None, "PyTorch weights (every backend; exported to ONNX for onnxruntime and tensorrt)"),
    )
    # Detection records start with their image's QSL index.
    postprocess_reads_indices = True
    data_subdir = "openimages"
    fetch_hint = "python scripts/prepare_openimages.py (the MLPerf OpenImages validation subset, ~24,781 images)"
    # 64 = LoadGen's performance sample count for retinanet: the demo is one loadable set.
    demo_sample_count = 64
    # MLPerf's 500 calibration images. They come from OpenImages' train split, so a validation
    # set never holds them: scripts/prepare_openimages.py --calibration fetches them separately.
    calibration_list = "calibration/openimages_cal_images_list.txt"

    # -- data ---------------------------------------------------------------
    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from models.retinanet.dataset import OpenImagesDataset

        return OpenImagesDataset(data_dir, cache_dir / self.name)

    def write_demo_data(self, dest: Path, count: int) -> None:
        from models.retinanet.demo import write_demo_openimages

        write_demo_openimages(dest, count)

    # -- network ------------------------------------------------------------
    def torch_module(self) -> "torch.nn.Module":
        from models.retinanet import network

        return network.build(self.weights, self.seed)

    def onnx_model(self, cache_dir: Path) -> OnnxModel:
        from models.retinanet import network

        if self.weights is None:
            tag = f"random-seed{self.seed}"
        else:
            network.checkpoint.reject_onnx(self.weights)
            tag = file_sha256(self.weights)[:16]
        path = cache_dir / "onnx" / f"retinanet-{tag}-{network.GRAPH_VERSION}.onnx"
        if not path.is_file():
            network.export_onnx(self.torch_module(), path)
        assert self.network is not None
        names = {spec.name: spec.name for spec in self.network.outputs}
        return OnnxModel(path, {"images": "images"}, names, "exported from " + self.describe_weights())

    # -- results ------------------------------------------------------------
    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        return detection_records(outputs, qsl_indices)

    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        from models.retinanet.dataset import OpenImagesDataset
        from models.retinanet.metric import openimages_map

        if not isinstance(dataset, OpenImagesDataset):
            raise TypeError(f"retinanet scores OpenImages datasets, got {type(dataset).__name__}")
        result = openimages_map(entries, dataset.annotation_file)
        if dataset.is_demo:
            result.notes.append("demo data has random classes: an untrained or real network scores ~0")
        if self.uses_random_weights:
            result.notes.append("random weights: expect mAP ~0")
        return result

    def extra_record(self) -> dict[str, Any]:
        from models.retinanet import detect

        return {"network": "RetinaNet ResNeXt50-32x4d FPN (torchvision blocks), 264 classes, 800x800",
                "score_threshold": detect.SCORE_THRESHOLD, "nms_iou": detect.NMS_IOU,
                "topk_per_level": detect.TOPK_PER_LEVEL, "max_detections": MAX_DETECTIONS,
                "accuracy_log": "float32 [image_idx, ymin, xmin, ymax, xmax, score, label] per detection",
                "input": "uint8 RGB NCHW 800x800 (resized with cv2 INTER_LINEAR)"}


MODEL = RetinaNet
