"""ResNet50 v1.5 (torchvision) with the top-1 class as output.

The input is the cached centre crop (uint8 RGB, NCHW). The first op is the float
step of MLPerf's preprocessing (float32, minus the per-channel means), done on the
device so the QSL holds 4x less memory. The torchvision / MLPerf PyTorch weights
were trained on ((x/255) - mean) / std, so a fixed per-channel affine step then
maps the MLPerf convention onto theirs before conv1.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from harness.errors import HarnessError
from models.resnet50.preprocess import MEAN_RGB

_TORCHVISION_MEAN = (0.485, 0.456, 0.406)
_TORCHVISION_STD = (0.229, 0.224, 0.225)


class ResNet50Top1(nn.Module):
    """torchvision ResNet50 behind an input adapter; returns argmax class indices (int64)."""

    mlperf_mean: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        mean = torch.tensor(_TORCHVISION_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_TORCHVISION_STD).view(1, 3, 1, 1)
        vgg_mean = torch.from_numpy(MEAN_RGB.copy()).view(1, 3, 1, 1)
        self.register_buffer("mlperf_mean", vgg_mean.clone())
        # x_tv = ((x_mlperf + vgg_mean) / 255 - mean) / std = x_mlperf * scale + shift
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("shift", (vgg_mean / 255.0 - mean) / std)
        self.backbone = backbone

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = crops.to(self.mlperf_mean.dtype) - self.mlperf_mean  # MLPerf preprocessing's float step
        logits = self.backbone(x * self.scale + self.shift)
        return torch.argmax(logits, dim=1)


def build(weights: Path | None, seed: int) -> ResNet50Top1:
    """ResNet50 in fp32 eval mode from a torchvision-format state dict, or seeded random init."""
    if weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone = torchvision.models.resnet50(weights=None)
    else:
        backbone = torchvision.models.resnet50(weights=None)
        if weights.suffix.lower() == ".onnx":
            raise HarnessError(
                f"{weights} is an ONNX model; PyTorch backends need the PyTorch weights",
                "pass --weights resnet50-19c8e357.pth (python scripts/fetch_weights.py --model resnet50), "
                "or run the ONNX file with --backend onnxruntime",
            )
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file
            raise HarnessError(f"cannot load weights {weights}: {exc}",
                               "re-download them with python scripts/fetch_weights.py --model resnet50") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        try:
            backbone.load_state_dict(state)
        except (RuntimeError, TypeError) as exc:
            raise HarnessError(f"{weights} is not a torchvision ResNet50 state dict: {str(exc)[:300]}",
                               "use resnet50-19c8e357.pth (python scripts/fetch_weights.py --model resnet50)") from None
    return ResNet50Top1(backbone).eval()


def export_onnx(module: nn.Module, path: Path) -> None:
    """Export with a dynamic batch dimension, one self-contained file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.onnx")
    example = torch.from_numpy(np.zeros((1, 3, 224, 224), dtype=np.uint8))
    # The TorchScript exporter writes one self-contained file and needs no onnxscript.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            str(partial),
            input_names=["input"],
            output_names=["argmax"],
            dynamic_axes={"input": {0: "batch"}, "argmax": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    partial.replace(path)
