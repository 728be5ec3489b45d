"""The MLPerf 3D U-Net (MLPerf Training's image_segmentation model, as the KiTS19 inference reference runs it).

One 128^3 window in, 3-class logits out: [N, 1, 128, 128, 128] float32 -> [N, 3, 128, 128, 128].
Encoder: an input block at full resolution, four stride-2 down blocks and a stride-2 bottleneck; decoder:
five 2x2x2 transposed convolutions, each followed by two convolutions on the concatenated skip. Every
3x3x3 convolution is bias-free and followed by InstanceNorm3d(affine) and ReLU; the transposed
convolutions and the final 1x1x1 convolution carry biases. Module names follow the reference's so the
published checkpoint (``best_model_state_dict`` of 3dunet_kits19_pytorch_checkpoint.pth) loads as is.

The full network has filters (32, 64, 128, 256, 320); the reduced variant (random weights on a CPU)
keeps the depth and shapes and divides every width by 4.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError
from models.base import load_failure

INPUT_NAME = "input"
OUTPUT_NAME = "output"
IN_CHANNELS = 1
NUM_CLASSES = 3
# Bumped when the exported graph changes (it is part of cached ONNX file names).
GRAPH_VERSION = "g1"


@dataclass(frozen=True)
class UnetWidth:
    name: str
    filters: tuple[int, ...]

    def describe(self) -> str:
        return f"{self.name} 3D U-Net (filters {', '.join(map(str, self.filters))})"


FULL = UnetWidth("full", (32, 64, 128, 256, 320))
REDUCED = UnetWidth("reduced", (8, 16, 32, 64, 80))
WIDTHS = {w.name: w for w in (FULL, REDUCED)}


def _unit(cin: int, cout: int, *, kernel: int = 3, stride: int = 1, transposed: bool = False,
          norm_relu: bool = True) -> nn.Sequential:
    """conv -> InstanceNorm3d -> ReLU, or conv (with bias) -> Identity -> Identity: keys 0, 1, 2."""
    padding = (kernel - 1) // 2 if not transposed else 0
    conv_type = nn.ConvTranspose3d if transposed else nn.Conv3d
    conv = conv_type(cin, cout, kernel_size=kernel, stride=stride, padding=padding, bias=not norm_relu)
    if norm_relu:
        return nn.Sequential(conv, nn.InstanceNorm3d(cout, affine=True), nn.ReLU())
    return nn.Sequential(conv, nn.Identity(), nn.Identity())


class _TwoConv(nn.Module):
    """Two conv units; the first may stride (input block, down blocks, bottleneck)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _unit(cin, cout, stride=stride)
        self.conv2 = _unit(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.upsample_conv = _unit(cin, cout, kernel=2, stride=2, transposed=True, norm_relu=False)
        self.conv1 = _unit(2 * cout, cout)
        self.conv2 = _unit(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.upsample_conv(x), skip), dim=1)
        return self.conv2(self.conv1(x))


class _Output(nn.Module):
    def __init__(self, cin: int, classes: int) -> None:
        super().__init__()
        self.conv = _unit(cin, classes, kernel=1, norm_relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Unet3D(nn.Module):
    """[N, 1, D, H, W] -> [N, 3, D, H, W] logits (D, H, W multiples of 32; 128 in MLPerf)."""

    def __init__(self, width: UnetWidth = FULL) -> None:
        super().__init__()
        f = width.filters
        self.width = width
        self.input_block = _TwoConv(IN_CHANNELS, f[0], stride=1)
        self.downsample = nn.ModuleList(_TwoConv(a, b, stride=2) for a, b in zip(f[:-1], f[1:]))
        self.bottleneck = _TwoConv(f[-1], f[-1], stride=2)
        ups = [(f[-1], f[-1])] + [(b, a) for a, b in reversed(list(zip(f[:-1], f[1:])))]
        self.upsample = nn.ModuleList(_Up(a, b) for a, b in ups)
        self.output = _Output(f[0], NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_block(x)
        skips = [x]
        for block in self.downsample:
            x = block(x)
            skips.append(x)
        x = self.bottleneck(x)
        for block, skip in zip(self.upsample, reversed(skips)):
            x = block(x, skip)
        return self.output(x)


def _read_state_dict(weights: Path) -> dict[str, Any]:
    if weights.suffix.lower() == ".onnx":
        raise HarnessError(f"{weights} is an ONNX model; PyTorch backends need the PyTorch checkpoint",
                           "pass --weights 3dunet_kits19_pytorch_checkpoint.pth (python scripts/fetch_weights.py "
                           "--model 3d-unet), or run the ONNX file with --backend onnxruntime")
    if weights.suffix.lower() == ".ptc":
        raise HarnessError(f"{weights} is the TorchScript export; the harness builds the network from the "
                           "checkpoint's state dict", "pass 3dunet_kits19_pytorch_checkpoint.pth instead")
    try:
        checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise HarnessError(f"weights file {weights} not found",
                           "python scripts/fetch_weights.py --model 3d-unet") from None
    except Exception as exc:  # unpickling / zip errors of a damaged file
        raise HarnessError(f"cannot read {weights} as a PyTorch checkpoint ({load_failure(weights, exc)})",
                           "fetch it again: python scripts/fetch_weights.py --model 3d-unet") from None
    state = checkpoint.get("best_model_state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise HarnessError(f"{weights} holds no state dict (expected 'best_model_state_dict')",
                           "use MLPerf's 3dunet_kits19_pytorch_checkpoint.pth")
    return {key.removeprefix("module."): value for key, value in state.items()}


def build(weights: Path | None, seed: int, width: UnetWidth = FULL) -> Unet3D:
    """The network in fp32 eval mode: the MLPerf checkpoint when given, else seeded random init."""
    if weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Unet3D(width)
        return model.eval()
    model = Unet3D(FULL)
    state = _read_state_dict(weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise HarnessError(f"{weights} does not fit the MLPerf 3D U-Net: {len(missing)} missing keys "
                           f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})",
                           "use MLPerf's 3dunet_kits19_pytorch_checkpoint.pth")
    return model.eval()


def export_onnx(module: nn.Module, path: Path, opset: int = 17, roi: int = 128) -> None:
    """Export with a dynamic batch of windows ("batch_size", as in MLPerf's _dynbatch model) to one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.onnx")
    example = torch.zeros((1, IN_CHANNELS, roi, roi, roi), dtype=torch.float32)
    axes = {INPUT_NAME: {0: "batch_size"}, OUTPUT_NAME: {0: "batch_size"}}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(partial), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    partial.replace(path)
