"""The toy network: a soft step at 0.5, position by position, with a batch of windows in and out."""

from __future__ import annotations

from pathlib import Path

import torch


class ToyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sharpness = torch.nn.Parameter(torch.tensor(12.0))

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.sharpness * (window - 0.5))


def export_onnx(module: torch.nn.Module, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with torch.inference_mode():
        torch.onnx.export(module.eval(), (torch.zeros(2, 16),), str(partial), input_names=["window"],
                          output_names=["score"], dynamic_axes={"window": {0: "batch"}, "score": {0: "batch"}},
                          opset_version=17, dynamo=False)
    partial.replace(path)
