"""3D-UNet on KiTS19 (MLPerf "3d-unet-99" and "3d-unet-99.9": same network and data, two DICE targets).

A sample is a whole preprocessed CT volume (1, D, H, W) float32 whose shape differs per case (ragged);
the network sees 128^3 windows, which the model's program (program.SlidingWindow) cuts, batches,
stitches with Gaussian weights and reduces to a uint8 label volume. The accuracy log holds that volume's
bytes per sample, as the reference's SUT logs them (score them with accuracy_kits.py --output_dtype uint8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import HarnessError
from harness.options import option
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
    file_sha256,
)
from models.unet3d.program import LABELS, SlidingWindow

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from models.unet3d.network import UnetWidth

ROI = 128
ZENODO = "https://zenodo.org/record/5597155/files"


@dataclass(frozen=True)
class Unet3DOptions:
    windows_per_call: int | None = option(
        None, "128^3 windows stacked into one network call, what runners are sized for (default: the run's "
        "batch_size)", minimum=1)
    network_width: str = option(
        "auto", "3D U-Net width for random weights: auto (reduced on a CPU, full on a GPU), full, reduced; "
        "real weights always run the full network", choices=("auto", "full", "reduced"))
    verify_checksums: bool = option(
        True, "check every preprocessed case against meta/checksum_inference.json (the reference's md5s)")


class Unet3D(ModelSpec):
    name = "3d-unet"
    aliases = ("unet3d", "3d-unet-kits19")
    loadgen_name = "3d-unet"
    mlperf_names = ("3d-unet-99", "3d-unet-99.9")
    scenarios = ("Offline",)
    sample_inputs = (TensorSpec("image", (1, -1, -1, -1), "float32"),)
    ragged = True
    network = NetworkSpec(inputs=(TensorSpec("input", (1, ROI, ROI, ROI), "float32"),),
                          outputs=(TensorSpec("output", (3, ROI, ROI, ROI), "float32"),))
    program = SlidingWindow
    options = Unet3DOptions
    weights_files = (
        WeightsFile("torch", "3d-unet/3dunet_kits19_pytorch_checkpoint.pth",
                    f"{ZENODO}/3dunet_kits19_pytorch_checkpoint.pth?download=1",
                    md5="09c696e3ec13d83c628498bcd831eb5b",
                    note="MLPerf's PyTorch checkpoint (best_model_state_dict), mean DICE 0.86170"),
        WeightsFile("onnx", "3d-unet/3dunet_kits19_128x128x128_dynbatch.onnx",
                    f"{ZENODO}/3dunet_kits19_128x128x128_dynbatch.onnx?download=1",
                    md5="82f0618fde78f9839e7c712274019b4a",
                    note="MLPerf's ONNX export with a dynamic batch of windows (opset 12)"),
    )
    data_subdir = "kits19"
    fetch_hint = ("python scripts/fetch_kits19.py (the KiTS19 imaging via neheller/kits19, case_00185 copied "
                  "to case_00400), then python scripts/prepare_kits19.py")
    # Five synthetic cases of 1 to 4 windows each (models/unet3d/demo.py).
    demo_sample_count = 5
    calibration_list = "calibration/kits19_calibration_cases.txt"

    def __init__(self, weights: Path | None = None, seed: int = 0, options: Any = None,
                 on_gpu: bool = False) -> None:
        super().__init__(weights, seed, options, on_gpu)
        self._width: UnetWidth | None = None
        self.onnx_source = ""

    @property
    def width(self) -> "UnetWidth":
        """The network width this instance runs (decided once)."""
        if self._width is None:
            from models.unet3d import network

            wanted = self.opts.network_width
            if self.weights is not None:
                if wanted == "reduced":
                    raise HarnessError("network_width reduced is for random weights; MLPerf's weights are the "
                                       "full network", "drop network_width, or run without --weights")
                self._width = network.FULL
            elif wanted == "auto":
                self._width = network.FULL if self.on_gpu else network.REDUCED
            else:
                self._width = network.WIDTHS[wanted]
        return self._width

    # -- data ---------------------------------------------------------------
    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from models.unet3d.dataset import KitsDataset

        return KitsDataset(data_dir, cache_dir / self.name, verify_checksums=self.opts.verify_checksums)

    def write_demo_data(self, dest: Path, count: int) -> None:
        from models.unet3d.demo import write_demo_kits

        write_demo_kits(dest, count)

    # -- network ------------------------------------------------------------
    def torch_module(self) -> "torch.nn.Module":
        from models.unet3d import network

        return network.build(self.weights, self.seed, self.width)  # refuses .onnx weights with the way out

    def onnx_model(self, cache_dir: Path) -> OnnxModel:
        from models.unet3d import network

        names_in = {"input": network.INPUT_NAME}
        names_out = {"output": network.OUTPUT_NAME}
        if self.weights is not None and self.weights.suffix.lower() == ".onnx":
            self._check_onnx(self.weights)
            self.onnx_source = f"ONNX {self.weights}"
            return OnnxModel(self.weights, names_in, names_out, self.onnx_source)
        source = f"random-seed{self.seed}" if self.weights is None else file_sha256(self.weights)[:16]
        path = cache_dir / "onnx" / f"3d-unet-{self.width.name}-{source}-{network.GRAPH_VERSION}.onnx"
        if not path.is_file():
            network.export_onnx(self.torch_module(), path)
        self.onnx_source = "exported from " + self.describe_weights()
        return OnnxModel(path, names_in, names_out, self.onnx_source)

    @staticmethod
    def _check_onnx(path: Path) -> None:
        import onnx

        try:
            graph = onnx.load(str(path), load_external_data=False).graph
        except Exception as exc:  # protobuf decode errors
            raise HarnessError(f"cannot read {path} as ONNX ({exc})",
                               "fetch it again: python scripts/fetch_weights.py --model 3d-unet") from None
        inputs = [i.name for i in graph.input]
        outputs = [o.name for o in graph.output]
        if "input" not in inputs or "output" not in outputs:
            raise HarnessError(f"{path} has inputs {inputs} and outputs {outputs}; the MLPerf 3D U-Net's are "
                               "'input' and 'output'", "use 3dunet_kits19_128x128x128_dynbatch.onnx")

    def describe_weights(self) -> str:
        if self.weights is None:
            why = " for CPU demo runs" if self.width.name == "reduced" else ""
            return f"seeded random init (seed {self.seed}) of the {self.width.describe()}{why}"
        return f"weights {self.weights} ({self.width.describe()})"

    # -- results ------------------------------------------------------------
    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        """(N, D, H, W) uint8 label volumes -> their bytes, C order, as the reference logs them."""
        labels = np.asarray(outputs[LABELS])
        if labels.dtype != np.uint8:
            raise TypeError(f"3d-unet responses are uint8 label volumes, got {labels.dtype}")
        return Responses.rows(labels)

    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        from models.unet3d.dataset import KitsDataset
        from models.unet3d.metric import score_log

        if not isinstance(dataset, KitsDataset):
            raise TypeError(f"3d-unet scores KiTS19 datasets, got {type(dataset).__name__}")
        summary, notes = score_log(entries, dataset)
        metrics = {"DICE": summary.mean, "kidney_DICE": summary.kidney, "tumor_DICE": summary.tumor}
        result = AccuracyResult(metrics=metrics, report=summary.report(), notes=notes)
        result.notes.extend(dataset.notes)
        if dataset.is_demo:
            result.notes.append("demo cases are synthetic blobs: the DICE means nothing")
        if self.uses_random_weights:
            result.notes.append(f"random weights ({self.width.name} 3D U-Net): expect DICE near 0")
        return result

    def not_comparable_because(self) -> list[str]:
        if not self.opts.verify_checksums:
            return ["the preprocessed cases were not checked against MLPerf's checksums (verify_checksums false)"]
        return []

    def extra_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "network": f"MLPerf 3D U-Net (KiTS19), {self.width.describe()}",
            "network_width": self.width.name,
            "reduced_network": self.width.name != "full",
            "sliding_window": {"roi": [ROI] * 3, "overlap": 0.5, "gaussian_sigma": 0.125 * ROI,
                               "windows_per_call": self.opts.windows_per_call},
            "accuracy_log_dtype": "uint8",
            "accuracy_log_layout": "the (D, H, W) label volume of each preprocessed case, C order",
            "verify_checksums": self.opts.verify_checksums,
        }
        if self.onnx_source:
            record["onnx_source"] = self.onnx_source
        return record


MODEL = Unet3D
