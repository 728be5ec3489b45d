"""toy-window: label each position of a 1-D signal as above or below 0.5, through a 16-position window.

Samples differ in length (ragged), the network sees one window per row, and the model's own program
(program.py) tiles each signal into overlapping windows, calls the network several times per sample and
stitches the windows back together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.options import option
from models.base import AccuracyEntry, AccuracyResult, Dataset, ModelSpec, NetworkSpec, OnnxModel, Responses, TensorSpec
from toy_window.program import WINDOW, SlidingWindow

if TYPE_CHECKING:  # pragma: no cover
    import torch

@dataclass(frozen=True)
class ToyWindowOptions:
    windows_per_call: int = option(3, "windows stacked into one network call", minimum=1)
    overlap: float = option(0.5, "fraction of a window its neighbour overlaps", minimum=0.0, maximum=0.75)
    # For the harness's own tests of broken programs.
    misbehave: str = option("none", "none, or complete a sample twice / never (tests the harness's checks)",
                            choices=("none", "twice", "never"))


class ToyWindow(ModelSpec):
    name = "toy-window"
    aliases = ("toy_window",)
    loadgen_name = "toy_window"
    mlperf_names = ("toy-window",)
    scenarios = ("Offline", "Server")
    sample_inputs = (TensorSpec("signal", (-1,), "float32"),)
    program = SlidingWindow
    ragged = True
    network = NetworkSpec(inputs=(TensorSpec("window", (WINDOW,), "float32"),),
                          outputs=(TensorSpec("score", (WINDOW,), "float32"),))
    options = ToyWindowOptions
    data_subdir = "toy_window"
    fetch_hint = "its demo generator (no real dataset exists)"
    demo_sample_count = 24
    own_rules = {"performance_sample_count": 24, "offline_min_query_count": 24, "scenarios": ["Offline", "Server"],
                 "server_target_latency_ms": 1000, "accuracy_targets": {"toy-window": {"accuracy": 99.0}}}

    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from toy_window.dataset import SignalDataset

        return SignalDataset(data_dir)

    def write_demo_data(self, dest: Path, count: int) -> None:
        from toy_window.demo import write_signals

        write_signals(dest, count)

    def torch_module(self) -> "torch.nn.Module":
        from toy_window.network import ToyNet

        return ToyNet()

    def onnx_model(self, cache_dir: Path) -> OnnxModel:
        from toy_window.network import export_onnx

        path = cache_dir / "onnx" / "toy-window.onnx"
        if not path.is_file():
            export_onnx(self.torch_module(), path)
        return OnnxModel(path, {"window": "window"}, {"score": "score"}, "exported from ToyNet")

    @property
    def uses_random_weights(self) -> bool:
        return False  # the network is fixed: nothing to train, nothing to fetch

    def describe_weights(self) -> str:
        return "fixed network (a soft step at 0.5)"

    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        return Responses.concat([np.asarray(labels, dtype=np.uint8) for labels in outputs["labels"]])

    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        from toy_window.metric import position_accuracy

        return position_accuracy(entries, dataset)


MODEL = ToyWindow
