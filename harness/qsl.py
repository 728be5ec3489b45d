"""The QSL side: performance samples loaded into memory, gathered per batch with one index op."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from models.base import Dataset, TensorSpec


class SampleStore:
    """Holds the samples LoadGen asked to load, addressed by QSL index.

    LoadGen calls ``load`` / ``unload`` (the QSL callbacks) outside the timed
    part; ``gather`` runs on the hot path: one fancy-index per input tensor.
    """

    def __init__(self, dataset: Dataset, inputs: Sequence[TensorSpec] = ()) -> None:
        self.dataset = dataset
        self.total_count = dataset.total_count
        # Variable-length inputs: crop each batch on its sequence axis to the longest sample.
        self.lengths = dataset.sample_lengths()
        self._crop_axes = {spec.name: spec.sequence_axis for spec in inputs if spec.sequence_axis is not None}
        if self.lengths is None:
            self._crop_axes = {}
        self._slot_of = np.full(self.total_count, -1, dtype=np.int64)
        self._arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.loaded_count = 0
        # Bumped on every load / unload, so device-side copies know when to refresh.
        self.version = 0

    # -- LoadGen QSL callbacks ----------------------------------------------
    def load(self, indices: list[int]) -> None:
        new = np.asarray(indices, dtype=np.int64)
        with self._lock:
            new = new[self._slot_of[new] < 0]
            if len(new) == 0:
                return
            arrays = self.dataset.load(new)
            if self._arrays and self.loaded_count:
                start = len(next(iter(self._arrays.values())))
                self._arrays = {k: np.concatenate([self._arrays[k], v]) for k, v in arrays.items()}
            else:
                start = 0
                self._arrays = arrays
            self._slot_of[new] = np.arange(start, start + len(new))
            self.loaded_count += len(new)
            self.version += 1

    def unload(self, indices: list[int]) -> None:
        gone = np.asarray(indices, dtype=np.int64)
        with self._lock:
            was_loaded = int(np.count_nonzero(self._slot_of[gone] >= 0))
            self._slot_of[gone] = -1
            self.loaded_count -= was_loaded
            if self.loaded_count <= 0:
                self._arrays = {}
                self._slot_of[:] = -1
                self.loaded_count = 0
            self.version += 1

    def snapshot(self) -> tuple[int, dict[str, np.ndarray]]:
        """(version, loaded arrays by input name): what a device-side copy mirrors."""
        with self._lock:
            return self.version, dict(self._arrays)

    def slots(self, qsl_indices: np.ndarray) -> np.ndarray:
        """Rows of the loaded arrays that hold these samples."""
        return self._slot_of[qsl_indices]

    # -- hot path -----------------------------------------------------------
    def gather(self, qsl_indices: np.ndarray) -> dict[str, np.ndarray]:
        slots = self._slot_of[qsl_indices]
        if not self._crop_axes:
            return {name: array[slots] for name, array in self._arrays.items()}
        assert self.lengths is not None
        longest = int(self.lengths[qsl_indices].max())
        out = {}
        for name, array in self._arrays.items():
            axis = self._crop_axes.get(name)
            if axis is None:
                out[name] = array[slots]
            else:  # gather rows, then keep the first `longest` positions of the sequence axis
                out[name] = np.ascontiguousarray(array[slots].take(np.arange(longest), axis=axis))
        return out

    def order_by_length(self, qsl_indices: np.ndarray) -> np.ndarray:
        """Permutation that sorts the given samples by length (identity for fixed-size models)."""
        if self.lengths is None:
            return np.arange(len(qsl_indices))
        return np.argsort(self.lengths[qsl_indices], kind="stable")

    def example(self, count: int) -> dict[str, np.ndarray]:
        """A batch of the first loaded samples (for warm-up)."""
        loaded = np.flatnonzero(self._slot_of >= 0)[:count]
        if len(loaded) == 0:
            loaded = np.arange(min(count, self.total_count))
            return self.dataset.load(loaded)
        reps = -(-count // len(loaded))
        return self.gather(np.tile(loaded, reps)[:count])
