"""The Runner contract: one model on one device (and stream), batch in, outputs out.

A Backend builds the network once (per device) and hands out Runners. Frameworks
are imported inside the backend modules' methods, never at import time, so a
machine without torch / onnxruntime / tensorrt still imports the harness.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from models.base import Dataset, ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from harness.qsl import SampleStore


@dataclass(frozen=True)
class BackendOptions:
    """The knobs a backend needs, resolved from the system config and the CLI."""

    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"
    channels_last: bool = False
    max_batch_size: int = 1
    streams_per_device: int = 1
    cache_dir: Path = Path("build/cache")
    # Compiled engines (TensorRT plans) and their calibration caches.
    engine_dir: Path = Path("build/engines")
    workspace_mib: int | None = None
    builder_optimization_level: int | None = None
    use_cuda_graphs: bool = False
    start_from_device: bool = False
    torch_compile: str | None = None
    # The run's dataset, for backends that calibrate on it (INT8 engines).
    dataset: Dataset | None = None


class Runner(abc.ABC):
    """Runs batches for one device / stream. Usable as a context manager."""

    device: str = "cpu"

    @abc.abstractmethod
    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """Run one batch of ``count`` samples; returns host arrays keyed by the model's output names.

        ``inputs`` is empty for backends that declare ``consumes_inputs = False``.
        """

    def infer_samples(self, store: "SampleStore", qsl_indices: np.ndarray, count: int) -> dict[str, np.ndarray]:
        """Run a batch of loaded samples. Gathers them on the host; runners that keep the
        samples in device memory (start_from_device) override this and gather there."""
        return self.infer(store.gather(qsl_indices), count)

    def warmup(self, inputs: dict[str, np.ndarray], count: int) -> None:
        """Run a batch so first-call costs (allocation, autotuning) stay out of the timed run."""
        self.infer(inputs, count)

    def close(self) -> None:
        """Release device resources."""

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class BackendInfo:
    """What the run record says about the backend that ran."""

    name: str
    devices: list[str]
    precision: str
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Backend(abc.ABC):
    name: ClassVar[str]
    # False for backends that never read the inputs (the null backend): the SUT then skips the gather.
    consumes_inputs: ClassVar[bool] = True

    def __init__(self, model: ModelSpec, options: BackendOptions) -> None:
        self.model = model
        self.options = options

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(usable here, why not) without building anything."""
        return True, ""

    @abc.abstractmethod
    def devices(self) -> list[str]:
        """Device names runners will be created on, e.g. ['cuda:0', 'cuda:1'] or ['cpu']."""

    @abc.abstractmethod
    def create_runner(self, device: str, stream_index: int) -> Runner: ...

    @abc.abstractmethod
    def info(self) -> BackendInfo: ...

    def runners(self) -> list[Runner]:
        """streams_per_device runners on every device, device-major order."""
        return [self.create_runner(device, s)
                for device in self.devices() for s in range(self.options.streams_per_device)]
