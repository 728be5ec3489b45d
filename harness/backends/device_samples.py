"""Pieces the CUDA backends (torch, tensorrt) share.

DeviceSamples - start_from_device: the performance samples LoadGen loaded, copied once into a GPU's
memory and gathered per batch there, so no host-to-device copy sits on the timed path (NVIDIA's
start_from_device). One instance per GPU, shared by that GPU's runners. Needs torch only.

graph_batch_sizes / pick_graph_size - the batch sizes that get a CUDA graph (or a compiled shape),
and which one a batch runs with.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from harness.qsl import SampleStore


class DeviceSamples:
    def __init__(self, device: str, crop_axes: Mapping[str, int]) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self._crop_axes = dict(crop_axes)  # input name -> sequence axis (batch axis = 0)
        self._lock = threading.Lock()
        self._version = -1
        self._tensors: dict[str, torch.Tensor] = {}
        self.uploaded_bytes = 0

    def _sync(self, store: "SampleStore") -> dict[str, "torch.Tensor"]:
        if store.version == self._version:
            return self._tensors
        with self._lock:
            version, arrays = store.snapshot()
            if version != self._version:
                self._tensors = {}  # free the old copy first
                self._tensors = {name: self._torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
                                 for name, a in arrays.items()}
                self.uploaded_bytes = sum(int(a.nbytes) for a in arrays.values())
                self._version = version
            return self._tensors

    def gather(self, store: "SampleStore", qsl_indices: np.ndarray) -> dict[str, "torch.Tensor"]:
        """The batch's inputs as device tensors (rows in qsl_indices order, sequence axes cropped
        to the longest sample of the batch exactly as SampleStore.gather does on the host)."""
        tensors = self._sync(store)
        slots = self._torch.from_numpy(np.ascontiguousarray(store.slots(qsl_indices))).to(self.device)
        longest = None
        if self._crop_axes and store.lengths is not None:
            longest = int(store.lengths[qsl_indices].max())
        out = {}
        for name, tensor in tensors.items():
            rows = tensor.index_select(0, slots)
            axis = self._crop_axes.get(name)
            if axis is not None and longest is not None:
                rows = rows.narrow(axis, 0, longest)
            out[name] = rows
        return out


def graph_batch_sizes(max_batch: int) -> list[int]:
    """Batch sizes that get a CUDA graph: powers of two below max_batch, and max_batch.

    A batch of n runs the graph of the smallest size >= n (rows past n are ignored), so a few
    graphs cover every size with at most 2x padding.
    """
    sizes = []
    size = 1
    while size < max_batch:
        sizes.append(size)
        size *= 2
    sizes.append(max_batch)
    return sizes


def pick_graph_size(sizes: Sequence[int], count: int) -> int | None:
    """The smallest captured batch size that holds ``count`` samples (None if none does)."""
    fitting = [s for s in sizes if s >= count]
    return min(fitting) if fitting else None
