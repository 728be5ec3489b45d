"""The plain data types of the model contract: tensor and network specs, weights files, responses, accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: name, shape without the batch axis, numpy dtype.

    In a model's *sample* specs a dimension of -1 varies per sample. Stacked samples allow one such
    axis (a sequence axis): the dataset stores it padded to ``max_shape`` and each batch is cropped to
    its longest sample (see ``Dataset.sample_lengths``). Ragged samples (``ModelSpec.ragged``) may vary
    on any axis and are held one array per sample. In a *network* spec -1 is a dynamic axis whose
    largest size is ``max_shape``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    max_shape: tuple[int, ...] | None = None

    @property
    def full_shape(self) -> tuple[int, ...]:
        return self.max_shape if self.max_shape is not None else self.shape

    @property
    def sequence_axis(self) -> int | None:
        """Axis (counting the batch axis as 0) that is cropped per batch, if any."""
        return self.shape.index(-1) + 1 if -1 in self.shape else None

    @property
    def sample_nbytes(self) -> int:
        return int(np.prod(self.full_shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class NetworkSpec:
    """What a backend builds and runs: the network's inputs and outputs, per row of a batch.

    It is declared apart from the dataset sample: a 3D-UNet sample is a whole CT volume, its network
    input a 128^3 window; for single-pass models the two are the same tensors.
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class WeightsFile:
    """One published weights artefact of a model: what it is, where it lives under data/models, where from.

    ``kind`` is what a backend consumes: "torch" (a state dict / checkpoint file), "onnx", or
    "checkpoint" (a folder, e.g. a Hugging Face checkpoint). ``optional`` files are fetched only when asked.
    """

    kind: str
    file: str
    url: str
    md5: str | None = None
    note: str = ""
    optional: bool = False


@dataclass(frozen=True)
class OnnxModel:
    """An ONNX file and how its graph names map to the network's tensor names."""

    path: Path
    input_names: dict[str, str]
    output_names: dict[str, str]
    source: str = ""


@dataclass
class Responses:
    """Response bytes for some samples: one contiguous array and per-sample byte offsets.

    Sample i owns bytes [offsets[i], offsets[i+1]) of ``data``. The SUT points
    LoadGen at those ranges, so ``data`` must stay alive until completion.
    """

    data: np.ndarray
    offsets: np.ndarray

    @classmethod
    def rows(cls, array: np.ndarray) -> "Responses":
        """Fixed-size responses: row i of ``array`` is sample i's response."""
        array = np.ascontiguousarray(array)
        count = array.shape[0]
        row_nbytes = array.nbytes // count if count else 0
        offsets = np.arange(count + 1, dtype=np.int64) * row_nbytes
        return cls(array, offsets)

    @classmethod
    def concat(cls, arrays: list[np.ndarray]) -> "Responses":
        """Variable-size responses: sample i's response is the bytes of ``arrays[i]``."""
        raw = [np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in arrays]
        sizes = np.array([r.nbytes for r in raw], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        data = np.concatenate(raw) if raw else np.zeros(0, dtype=np.uint8)
        return cls(data, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sample_bytes(self, i: int) -> bytes:
        raw = self.data.reshape(-1).view(np.uint8)
        return raw[self.offsets[i] : self.offsets[i + 1]].tobytes()


@dataclass(frozen=True)
class AccuracyEntry:
    """One record of mlperf_log_accuracy.json."""

    qsl_idx: int
    data: bytes


@dataclass
class AccuracyResult:
    """Metrics (names as in the rules' accuracy targets) and the accuracy.txt body."""

    metrics: dict[str, float]
    report: str
    notes: list[str] = field(default_factory=list)
