"""The contract between one benchmark folder under models/ and the harness.

A model folder knows its dataset, preprocessing, network, postprocessing and
accuracy metric. It knows nothing about backends, LoadGen or scenarios: the
harness hands it sample indices and raw network outputs, and asks it for
tensors, response bytes and metrics.
"""

from __future__ import annotations

import abc
import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch


@dataclass(frozen=True)
class TensorSpec:
    """One network input or output: name, per-sample shape (no batch dim), numpy dtype.

    A dimension given as -1 in an *input* is a sequence axis: the dataset stores it
    padded to ``max_shape`` and the harness crops each batch to the longest sample in
    it (see ``Dataset.sample_lengths``).
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
class OnnxModel:
    """An ONNX file and how its graph names map to the model's tensor names."""

    path: Path
    input_names: dict[str, str]
    output_names: dict[str, str]
    source: str = ""


@dataclass
class Responses:
    """Response bytes for one batch: one contiguous array and per-sample byte offsets.

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


class Dataset(abc.ABC):
    """Samples addressed by QSL index, loaded as stacked arrays keyed by input name."""

    name: str = "dataset"
    location: str = ""
    is_demo: bool = False

    @property
    @abc.abstractmethod
    def total_count(self) -> int: ...

    @abc.abstractmethod
    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Return the network inputs for ``indices`` (first dim = len(indices))."""

    def sample_lengths(self) -> np.ndarray | None:
        """True sequence length of every sample (by QSL index) for models with a sequence axis.

        When given, the Offline SUT orders each query by length before cutting batches, and
        every batch's inputs are cropped on their sequence axis to the longest sample in it.
        """
        return None

    def sample_ids(self) -> Sequence[str] | None:
        """Each sample's name in the dataset's own terms (image file name, question id), by QSL index.

        MLPerf calibration lists name samples this way; None when samples have no such names.
        """
        return None

    def describe(self) -> str:
        kind = "DEMO data" if self.is_demo else "dataset"
        return f"{kind} {self.name}: {self.total_count} samples at {self.location}"


def file_sha256(path: Path, limit: int | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        remaining = limit
        while True:
            chunk = handle.read(1 << 20 if remaining is None else min(1 << 20, remaining))
            if not chunk:
                break
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
                if remaining <= 0:
                    break
    return digest.hexdigest()


class ModelSpec(abc.ABC):
    """One benchmark. Subclasses fill in the class attributes and the methods.

    An instance is bound to one weights choice (a file, or seeded random init).
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    loadgen_name: ClassVar[str]
    # MLPerf benchmark names this model is submitted under (accuracy variants).
    mlperf_names: ClassVar[tuple[str, ...]]
    scenarios: ClassVar[tuple[str, ...]]
    inputs: ClassVar[tuple[TensorSpec, ...]]
    outputs: ClassVar[tuple[TensorSpec, ...]]
    # Where the real dataset lives under the data root, and how to get it.
    data_subdir: ClassVar[str]
    fetch_hint: ClassVar[str]
    weights_hint: ClassVar[str] = ""

    def __init__(self, weights: Path | None = None, seed: int = 0) -> None:
        self.weights = weights
        self.seed = seed

    # -- data ---------------------------------------------------------------
    @abc.abstractmethod
    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        """Open a dataset directory in the real on-disk format (preprocess into cache_dir once)."""

    @abc.abstractmethod
    def write_demo_data(self, dest: Path, count: int) -> None:
        """Write a small dataset in the real on-disk format to ``dest``."""

    demo_sample_count: ClassVar[int] = 256
    # The MLPerf calibration list (a file in the model's folder, one sample name per line as
    # Dataset.sample_ids() names them): the only samples INT8/FP8 engines may be calibrated on.
    calibration_list: ClassVar[str | None] = None

    def calibration_list_path(self) -> Path | None:
        if self.calibration_list is None:
            return None
        return Path(inspect.getfile(type(self))).parent / self.calibration_list

    # -- network ------------------------------------------------------------
    @abc.abstractmethod
    def torch_module(self) -> "torch.nn.Module":
        """The network as a torch module in fp32 eval mode, weights loaded."""

    @abc.abstractmethod
    def onnx_model(self, cache_dir: Path) -> OnnxModel:
        """The network as ONNX (the given .onnx weights, or an export cached in cache_dir)."""

    def describe_weights(self) -> str:
        if self.weights is None:
            return f"seeded random init (seed {self.seed})"
        return f"weights {self.weights}"

    @property
    def uses_random_weights(self) -> bool:
        return self.weights is None

    # -- results ------------------------------------------------------------
    @abc.abstractmethod
    def postprocess(self, outputs: dict[str, np.ndarray]) -> Responses:
        """Turn one batch of network outputs into the accuracy-log response bytes."""

    @property
    def reads_batch_indices(self) -> bool:
        """Whether postprocess_batch looks at the QSL indices (the SUT skips building them otherwise)."""
        return type(self).postprocess_batch is not ModelSpec.postprocess_batch

    def postprocess_batch(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        """postprocess() for a batch whose samples are ``qsl_indices`` (in batch order); the SUT calls this.

        The default ignores the indices. Models whose response names its sample (detection
        records start with the image index) override it.
        """
        return self.postprocess(outputs)

    @abc.abstractmethod
    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        """Compute the accuracy metric the way MLCommons' script does."""

    def mlperf_name(self, variant: str | None = None) -> str:
        if variant is None:
            return self.mlperf_names[0]
        if variant not in self.mlperf_names:
            raise ValueError(f"{self.name} has no variant {variant}")
        return variant

    def extra_record(self) -> dict[str, Any]:
        """Model facts to store in the run record (network config, label offsets...)."""
        return {}
