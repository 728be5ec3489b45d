"""The QSL side: performance samples loaded into memory.

Stacked samples (one shape, at most one sequence axis) live in one array per input and are gathered per
batch with one index op; ragged samples (shapes differ) are held one array set per sample.
"""

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

    def __init__(self, dataset: Dataset, inputs: Sequence[TensorSpec] = (), ragged: bool = False) -> None:
        self.dataset = dataset
        self.ragged = ragged
        self.total_count = dataset.total_count
        self._samples: dict[int, dict[str, np.ndarray]] = {}
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
        if self.ragged:
            self._load_ragged(indices)
            return
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

    def _load_ragged(self, indices: list[int]) -> None:
        with self._lock:
            new = [int(i) for i in indices if int(i) not in self._samples]
            for index in new:
                self._samples[index] = self.dataset.load_sample(index)
            self.loaded_count = len(self._samples)
            self.version += 1

    def unload(self, indices: list[int]) -> None:
        if self.ragged:
            with self._lock:
                for index in indices:
                    self._samples.pop(int(index), None)
                self.loaded_count = len(self._samples)
                self.version += 1
            return
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
        if self.ragged:
            raise TypeError(f"{self.dataset.name} samples differ in shape: read them with sample(), not gather()")
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

    def sample(self, qsl_index: int) -> dict[str, np.ndarray]:
        """One sample's arrays: as loaded (ragged), or its row cropped to its length (stacked). A sample
        LoadGen has not loaded is read from the dataset (warm-up only: slow)."""
        if self.ragged:
            found = self._samples.get(qsl_index)
            return found if found is not None else self.dataset.load_sample(qsl_index)
        slot = int(self._slot_of[qsl_index])
        if slot < 0:
            return self.dataset.load_sample(qsl_index)
        row = {name: array[slot] for name, array in self._arrays.items()}
        if self._crop_axes and self.lengths is not None:
            length = int(self.lengths[qsl_index])
            row = {name: (array.take(np.arange(length), axis=self._crop_axes[name] - 1)
                          if name in self._crop_axes else array) for name, array in row.items()}
        return row

    def example_indices(self, count: int) -> np.ndarray:
        """Up to ``count`` QSL indices for warm-up: loaded samples first, else the first ones."""
        if self.ragged:
            loaded = np.array(sorted(self._samples)[:count], dtype=np.int64)
        else:
            loaded = np.flatnonzero(self._slot_of >= 0)[:count]
        if len(loaded) == 0:
            return np.arange(min(count, self.total_count), dtype=np.int64)
        return loaded

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
