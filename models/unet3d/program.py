"""The 3D-UNet inference program: a sliding window of network calls per CT volume, stitched on the device.

For each sample (a preprocessed (1, D, H, W) volume) the program visits the 128^3 windows in the
reference's order (window.py), stacks up to ``windows_per_call`` of them into one network call on the
runner's ``torch_device`` (windows of consecutive samples share a call), and per window adds
``logits * gaussian`` to a (3, D, H, W) float32 sum and the Gaussian to a (D, H, W) norm map. After its
last window a volume's sum is divided by the norm map and reduced by argmax over the classes to uint8
labels; only that label volume goes to the host, and the sample is completed at once.

The float operations are the reference's (base_SUT.infer_single_query with inference_utils.finalize):
windows accumulated one at a time in the same order, the product rounded before the sum, the division
before the argmax, ties going to the lower class.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import HarnessError
from models.program import Done, Program, ProgramSetup, SampleSource, discard
from models.unet3d.preprocess import ROI_SHAPE
from models.unet3d.window import gaussian_importance_map, window_starts

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from models.base import ModelSpec

LABELS = "labels"


def normalized_argmax(logits: "torch.Tensor", norm: "torch.Tensor") -> "torch.Tensor":
    """argmax over classes of logits / norm as uint8, the first class winning ties (as np.argmax does).

    Written as one division and comparison per class: torch.argmax over a leading axis of 3 is several
    times slower on a CPU than these elementwise passes, and the values compared are the same."""
    import torch

    best = logits[0] / norm
    labels = torch.zeros(best.shape, dtype=torch.uint8, device=best.device)
    for c in range(1, logits.shape[0]):
        value = logits[c] / norm
        labels.masked_fill_(value > best, c)
        if c + 1 < logits.shape[0]:
            best = torch.maximum(best, value)  # where(value > best, value, best) for the values compared
    return labels


class _Volume:
    """One sample being stitched: its image and sums on the device, the windows still to come."""

    __slots__ = ("sample_id", "qsl_index", "image", "logits", "norm", "left")

    def __init__(self, sample_id: int, qsl_index: int, image: "torch.Tensor | None", logits: "torch.Tensor",
                 norm: "torch.Tensor", windows: int) -> None:
        self.sample_id = sample_id
        self.qsl_index = qsl_index
        self.image = image
        self.logits = logits
        self.norm = norm
        self.left = windows


class SlidingWindow(Program):
    """Sliding-window inference with Gaussian weighting (MLPerf 3D-UNet KiTS19)."""

    needs = "network"
    batching = "harness"
    # Samples are completed one at a time as their last window is stitched, all before run() returns.
    completes_in_run = False
    warmup_samples = 1

    def __init__(self, model: "ModelSpec", runner: Any, samples: SampleSource, setup: ProgramSetup) -> None:
        super().__init__(model, runner, samples, setup)
        import torch

        self._torch = torch
        options = setup.options if setup.options is not None else model.opts
        self.windows_per_call = type(self).runner_batch_size(setup.batch_size, options)
        self.device = torch.device(runner.torch_device)
        network = model.network
        assert network is not None
        self._input_name = network.inputs[0].name
        self._output_name = network.outputs[0].name
        self._sample_name = model.sample_inputs[0].name
        self._consumes = setup.consumes_inputs
        self._roi = ROI_SHAPE
        self._patch = torch.from_numpy(np.array(gaussian_importance_map(ROI_SHAPE[0]))).to(self.device)
        self._postprocess = model.postprocess
        # Network calls and windows since construction (tests and the benchmark read them).
        self.calls = 0
        self.windows = 0

    @classmethod
    def runner_batch_size(cls, batch_size: int, options: Any) -> int:
        """Windows per network call: the model option windows_per_call, else the run's batch_size."""
        return max(1, int(getattr(options, "windows_per_call", None) or batch_size))

    def run(self, ids: Sequence[int], qsl_indices: np.ndarray, done: Done) -> None:
        pending: list[tuple[_Volume, tuple[int, int, int]]] = []
        for sample_id, index in zip(ids, np.asarray(qsl_indices).tolist()):
            volume, starts = self._open(int(sample_id), int(index))
            for start in starts:
                pending.append((volume, start))
                if len(pending) == self.windows_per_call:
                    self._call(pending, done)
                    pending = []
        if pending:
            self._call(pending, done)

    def measure_rate(self) -> float | None:
        """Samples/s: the time per window over one sample, times the mean window count of up to eight
        samples (volumes differ in size, and the first one need not be typical)."""
        indices = self.samples.example_indices(min(8, self.samples.total_count))
        if len(indices) == 0:
            return None
        counts = [len(window_starts(self.samples.sample(int(i))[self._sample_name].shape[1:], self._roi))
                  for i in indices]
        probe = indices[:1]
        windows_before = self.windows
        started = time.monotonic()
        self.run(list(range(len(probe))), probe, discard)
        per_window = (time.monotonic() - started) / max(1, self.windows - windows_before)
        return 1.0 / max(per_window * float(np.mean(counts)), 1e-9)

    # -- internals ------------------------------------------------------------
    def _open(self, sample_id: int, qsl_index: int) -> tuple[_Volume, list[tuple[int, int, int]]]:
        torch = self._torch
        array = self.samples.sample(qsl_index)[self._sample_name]
        shape = tuple(int(n) for n in array.shape[1:])
        starts = window_starts(shape, self._roi)
        if not starts:
            raise HarnessError(f"sample {qsl_index} has shape {array.shape}, smaller than one {self._roi} window",
                               "preprocessed volumes are at least 128 per axis; rebuild the cache")
        image = None
        if self._consumes:
            host = torch.from_numpy(array if array.flags.writeable else np.array(array))
            image = host.to(self.device, non_blocking=False)
        logits = torch.zeros((self.model.network.outputs[0].shape[0], *shape),  # type: ignore[union-attr]
                             dtype=torch.float32, device=self.device)
        norm = torch.zeros(shape, dtype=torch.float32, device=self.device)
        return _Volume(sample_id, qsl_index, image, logits, norm, len(starts)), starts

    def _call(self, pending: list[tuple[_Volume, tuple[int, int, int]]], done: Done) -> None:
        torch = self._torch
        d, h, w = self._roi
        count = len(pending)
        if self._consumes:
            batch = torch.stack([v.image[:, z:z + d, y:y + h, x:x + w]  # type: ignore[index]
                                 for v, (z, y, x) in pending])
            inputs = {self._input_name: batch}
        else:
            inputs = {}
        # One conversion per call (not per window) when the runner answers in another dtype or place.
        out = self.runner.infer_tensors(inputs, count)[self._output_name].to(device=self.device, dtype=torch.float32)
        self.calls += 1
        self.windows += count
        patch = self._patch
        for row, (volume, (z, y, x)) in enumerate(pending):
            volume.logits[:, z:z + d, y:y + h, x:x + w] += out[row] * patch
            volume.norm[z:z + d, y:y + h, x:x + w] += patch
            volume.left -= 1
            if volume.left == 0:
                self._finish(volume, done)

    def _finish(self, volume: _Volume, done: Done) -> None:
        host = normalized_argmax(volume.logits, volume.norm).cpu().numpy()
        volume.image = volume.logits = volume.norm = None  # type: ignore[assignment]
        responses = self._postprocess({LABELS: host[np.newaxis]}, np.array([volume.qsl_index], dtype=np.int64))
        done([volume.sample_id], responses)
