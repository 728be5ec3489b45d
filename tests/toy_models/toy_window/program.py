"""The sliding window: overlapping 16-position windows per signal, several network calls per sample, and
the window scores stitched back with a triangular weight (the centre of a window counts most)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.program import Done, Program

WINDOW = 16


def window_starts(length: int, stride: int) -> list[int]:
    """Starts of the windows that cover ``length`` positions (the signal is padded to one window at least)."""
    last = max(length - WINDOW, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def importance() -> np.ndarray:
    """Triangular weights, never zero, so every covered position gets a finite normalised score."""
    ramp = np.minimum(np.arange(1, WINDOW + 1), np.arange(WINDOW, 0, -1)).astype(np.float32)
    return ramp / ramp.max()


class SlidingWindow(Program):
    warmup_samples = 2

    @classmethod
    def runner_batch_size(cls, batch_size: int, options: Any) -> int:
        return int(options.windows_per_call)

    def run(self, ids: Sequence[int], qsl_indices: Any, done: Done) -> None:
        import torch

        opts = self.setup.options
        stride = max(1, int(round(WINDOW * (1 - opts.overlap))))
        device = self.runner.torch_device
        weight = torch.from_numpy(importance()).to(device)
        indices = np.asarray(qsl_indices).tolist()
        for k, (sample_id, index) in enumerate(zip(ids, indices)):
            signal = self.samples.sample(int(index))["signal"]
            length = len(signal)
            padded = np.zeros(max(length, WINDOW), dtype=np.float32)
            padded[:length] = signal
            x = torch.from_numpy(padded).to(device)
            total = torch.zeros(len(padded), device=device)
            norm = torch.zeros(len(padded), device=device)
            starts = window_starts(length, stride)
            for first in range(0, len(starts), opts.windows_per_call):
                chunk = starts[first:first + opts.windows_per_call]
                batch = torch.stack([x[s:s + WINDOW] for s in chunk])
                score = self.runner.infer_tensors({"window": batch}, len(chunk))["score"].float()
                for row, s in enumerate(chunk):
                    total[s:s + WINDOW] += score[row] * weight
                    norm[s:s + WINDOW] += weight
            labels = (total / norm)[:length] > 0.5
            if opts.misbehave == "never" and k == len(ids) - 1:
                continue  # a broken program: the last sample of every call is never completed
            responses = self.model.postprocess({"labels": [labels.to(torch.uint8).cpu().numpy()]},
                                               np.array([index]))
            done([sample_id], responses)
            if opts.misbehave == "twice":
                done([sample_id], responses)  # a broken program: the same sample again
