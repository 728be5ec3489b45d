"""The contract between one benchmark folder under models/ and the harness.

A model folder knows its dataset, preprocessing, network, inference program, postprocessing and accuracy
metric. It knows nothing about LoadGen, scenarios or how a backend compiles its network: the harness hands
its program sample ids, QSL indices and runners, and asks the model for tensors, response bytes and metrics.
See docs/adding-a-model.md.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.common import file_sha256
from harness.errors import HarnessError
from harness.options import NoOptions
from models.generation import GenerationParams
from models.program import Program, SinglePass
from models.specs import (
    AccuracyEntry,
    AccuracyResult,
    NetworkSpec,
    OnnxModel,
    Responses,
    TensorSpec,
    WeightsFile,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = ["AccuracyEntry", "AccuracyResult", "Dataset", "ModelSpec", "NetworkSpec", "OnnxModel", "Responses",
           "TensorSpec", "WeightsFile", "file_sha256", "load_failure"]

# What a model can hand a backend: the torch network, its ONNX graph, a torch generator, a checkpoint folder.
ARTEFACTS = ("torch", "onnx", "torch_generator", "checkpoint")


def load_failure(path: Path, exc: BaseException) -> str:
    """Why a weights file did not load, never blank (torch says only ``EOFError()`` for an empty file)."""
    try:
        if path.stat().st_size == 0:
            return "the file is empty (0 bytes): the download or copy did not finish"
    except OSError:
        pass
    text = str(exc)[:300]
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__} (the file is damaged or cut short)"


def check_entries(entries: Sequence[AccuracyEntry], total_count: int) -> None:
    """An accuracy log a metric can score against a dataset of ``total_count`` samples: it has records, and
    every record names one of its samples."""
    if not entries:
        raise HarnessError("the accuracy log has no records", "rerun in accuracy mode")
    for entry in entries:
        if not 0 <= entry.qsl_idx < total_count:
            raise HarnessError(f"accuracy-log record for sample {entry.qsl_idx}, but the dataset has "
                               f"{total_count}", "score the log against the dataset it was run on")


class Dataset(abc.ABC):
    """Samples addressed by QSL index.

    Stacked datasets (every sample the same shape, at most one padded sequence axis) implement
    ``load``; ragged ones (samples of different shapes) implement ``load_sample``. Each has a default
    in terms of the other.
    """

    name: str = "dataset"
    location: str = ""
    is_demo: bool = False

    @property
    @abc.abstractmethod
    def total_count(self) -> int: ...

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The samples ``indices`` stacked per input (first dim = len(indices))."""
        samples = [self.load_sample(int(i)) for i in indices]
        return {name: np.stack([s[name] for s in samples]) for name in (samples[0] if samples else {})}

    def load_sample(self, index: int) -> dict[str, np.ndarray]:
        """One sample's arrays, in its own shape."""
        return {name: array[0] for name, array in self.load(np.array([index], dtype=np.int64)).items()}

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


class ModelSpec(abc.ABC):
    """One benchmark. Subclasses fill in the class attributes and the methods.

    An instance is bound to one weights choice (a file, or seeded random init) and one set of options.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    loadgen_name: ClassVar[str]
    # MLPerf benchmark names this model is submitted under (accuracy variants).
    mlperf_names: ClassVar[tuple[str, ...]]
    scenarios: ClassVar[tuple[str, ...]]
    # What one dataset sample holds (the QSL's memory), and whether samples differ in shape.
    sample_inputs: ClassVar[tuple[TensorSpec, ...]]
    ragged: ClassVar[bool] = False
    # What a backend builds and runs; None for models whose backends build a generator instead.
    network: ClassVar[NetworkSpec | None] = None
    # How samples become runner calls (models/program.py); the runner kind follows from it.
    program: ClassVar[type[Program]] = SinglePass
    # Generative models: how their reference decodes (generator runners read it).
    generation: ClassVar[GenerationParams | None] = None
    # The model's own knobs (a frozen dataclass of harness.options.option fields).
    options: ClassVar[type] = NoOptions
    # What backends can get from this model (see ARTEFACTS).
    artefacts: ClassVar[tuple[str, ...]] = ("torch", "onnx")
    # Published weights (scripts/fetch_weights.py --model <name> fetches them into data/models/).
    weights_files: ClassVar[tuple[WeightsFile, ...]] = ()
    # Where the real dataset lives under the data root, and how to get it.
    data_subdir: ClassVar[str]
    fetch_hint: ClassVar[str]
    demo_sample_count: ClassVar[int] = 256
    # The MLPerf calibration list (a file in the model's folder, one sample name per line as
    # Dataset.sample_ids() names them): the only samples INT8/FP8 engines may be calibrated on.
    calibration_list: ClassVar[str | None] = None
    # Rules for a model no MLPerf round covers (keys as in configs/rules/<round>.yaml models.<name>); the
    # round's own entry always wins.
    own_rules: ClassVar[dict[str, Any] | None] = None
    # Whether postprocess() reads its QSL indices (records that name their sample); when not, the SUT
    # of a backend that ignores inputs skips building index arrays.
    postprocess_reads_indices: ClassVar[bool] = False

    def __init__(self, weights: Path | None = None, seed: int = 0, options: Any = None,
                 on_gpu: bool = False) -> None:
        self.weights = weights
        self.seed = seed
        self.opts = options if options is not None else type(self).options()
        # Whether the run's runners sit on GPUs (models that size themselves for CPU demo runs read it).
        self.on_gpu = on_gpu

    @classmethod
    def folder(cls) -> Path:
        return Path(inspect.getfile(cls)).parent

    @classmethod
    def weights_hint(cls) -> str:
        return f"python scripts/fetch_weights.py --model {cls.name}"

    @classmethod
    def weights_for(cls, kind: str) -> WeightsFile | None:
        return next((w for w in cls.weights_files if w.kind == kind), None)

    # -- data ---------------------------------------------------------------
    @abc.abstractmethod
    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        """Open a dataset directory in the real on-disk format (preprocess into cache_dir once)."""

    @abc.abstractmethod
    def write_demo_data(self, dest: Path, count: int) -> None:
        """Write a small dataset in the real on-disk format to ``dest``."""

    def calibration_list_path(self) -> Path | None:
        if self.calibration_list is None:
            return None
        return self.folder() / self.calibration_list

    # -- artefacts for backends ----------------------------------------------
    def _missing(self, artefact: str) -> HarnessError:
        offered = ", ".join(self.artefacts) or "none"
        return HarnessError(f"model {self.name} has no {artefact} artefact (it offers: {offered})",
                            "pick a backend that uses one of those")

    def torch_module(self) -> "torch.nn.Module":
        """The network as a torch module in fp32 eval mode, weights loaded."""
        raise self._missing("torch")

    def onnx_model(self, cache_dir: Path) -> OnnxModel:
        """The network as ONNX (the given .onnx weights, or an export cached in cache_dir)."""
        raise self._missing("onnx")

    def torch_generator(self, device: str, precision: str, slots: int) -> Any:
        """A models.generation.StepDecoder or BatchGenerate on ``device`` with ``slots`` sequences."""
        raise self._missing("torch_generator")

    def checkpoint_dir(self, cache_dir: Path) -> Path:
        """A checkpoint folder that generation backends build their engines from (one made for random
        weights goes under ``cache_dir``)."""
        raise self._missing("checkpoint")

    def describe_weights(self) -> str:
        if self.weights is None:
            return f"seeded random init (seed {self.seed})"
        return f"weights {self.weights}"

    @property
    def uses_random_weights(self) -> bool:
        return self.weights is None

    # -- results ------------------------------------------------------------
    @abc.abstractmethod
    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        """Turn the outputs for some samples (rows in ``qsl_indices`` order) into accuracy-log bytes.

        ``qsl_indices`` is only read by models that set ``postprocess_reads_indices``."""

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

    def not_comparable_because(self) -> list[str]:
        """Reasons of the model's own why a run cannot stand beside MLPerf results (its options, its data
        checks); the harness adds its own (demo data, random weights, shortened runs...)."""
        return []
