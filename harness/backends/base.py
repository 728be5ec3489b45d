"""The backend contract: a Backend builds what a model's program needs once (per device) and hands out
Runners, one per device x stream.

Two runner kinds exist, because programs need one or the other:
- NetworkRunner: one forward pass of the model's network per call (a batch in, outputs out);
- GeneratorRunner: prompts in, generated token ids out, each request reported when it finishes, so
  requests can join and leave a running batch.
A backend lists the kinds it ``offers``; the model's program names the kind it ``needs``.

Frameworks are imported inside the backend modules' methods, never at import time, so a machine
without torch / onnxruntime / tensorrt still imports the harness.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.options import NoOptions
from models.base import Dataset, ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from harness.qsl import SampleStore
    from models.generation import OnDone

RUNNER_KINDS = ("network", "generator")


@dataclass(frozen=True)
class BackendContext:
    """What the run tells every backend; knobs a backend owns come as its own ``Options``."""

    kind: str = "network"  # the runner kind the model's program needs
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"
    max_batch_size: int = 1
    streams_per_device: int = 1
    cache_dir: Path = Path("build/cache")
    # Compiled engines (TensorRT plans) and their calibration caches.
    engine_dir: Path = Path("build/engines")
    # The run's dataset: INT8 engines calibrate on its calibration-list samples.
    calibration: Dataset | None = None


class Runner(abc.ABC):
    """Runs work for one device / stream. Usable as a context manager."""

    kind: ClassVar[str]
    device: str = "cpu"

    def close(self) -> None:
        """Release device resources."""

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NetworkRunner(Runner):
    """One forward pass of the model's network per call."""

    kind = "network"

    @abc.abstractmethod
    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """Run one batch of ``count`` rows; returns host arrays keyed by the network's output names.

        ``inputs`` is empty for backends that declare ``consumes_inputs = False``. The arrays may be
        views of the runner's buffers: valid until its next call.
        """

    def infer_samples(self, store: "SampleStore", qsl_indices: np.ndarray, count: int) -> dict[str, np.ndarray]:
        """Run a batch of loaded samples. Gathers them on the host; runners that keep the
        samples in device memory (start_from_device) override this and gather there."""
        return self.infer(store.gather(qsl_indices), count)

    @property
    def torch_device(self) -> str:
        """Where ``infer_tensors`` takes and returns its tensors."""
        return "cpu"

    def infer_tensors(self, inputs: dict[str, "torch.Tensor"], count: int) -> dict[str, "torch.Tensor"]:
        """``infer`` on torch tensors living on ``torch_device``: programs that keep their work on the
        device (stitching windows, argmax) call this. GPU runners override it to skip the host."""
        import torch

        host = {name: t.detach().cpu().numpy() for name, t in inputs.items()}
        out = self.infer(host, count)
        return {name: torch.from_numpy(np.array(a)).to(self.torch_device) for name, a in out.items()}

    def warmup(self, inputs: dict[str, np.ndarray], count: int) -> None:
        """Run a batch so first-call costs (allocation, autotuning) stay out of the timed run."""
        self.infer(inputs, count)


class GeneratorRunner(Runner):
    """Prompts in, generated token ids out; each request reported as soon as it finishes."""

    kind = "generator"

    @abc.abstractmethod
    def submit(self, request_id: int, prompt: np.ndarray, on_done: "OnDone") -> None:
        """Queue one prompt (1-D token ids); ``on_done(request_id, tokens)`` is called when it finishes,
        from any thread. Must return quickly (it runs on LoadGen's issue thread in Server)."""

    @abc.abstractmethod
    def busy(self) -> bool:
        """True while requests are queued or being generated."""

    def failure(self) -> BaseException | None:
        """The error that stopped the generator's own thread, if any."""
        return None

    def drain(self) -> None:
        """Block until every submitted request has been reported (or the generator failed)."""

    def generate(self, prompts: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The batch form: every prompt's generated ids, in order."""
        results: dict[int, np.ndarray] = {}
        lock = threading.Lock()

        def keep(request_id: int, tokens: np.ndarray) -> None:
            with lock:
                results[request_id] = tokens

        for i, prompt in enumerate(prompts):
            self.submit(i, prompt, keep)
        self.drain()
        error = self.failure()
        if error is not None:
            raise error
        return [results[i] for i in range(len(prompts))]

    def warmup(self, prompts: Sequence[np.ndarray]) -> None:
        self.generate(prompts)


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
    # The backend's own knobs (a frozen dataclass of harness.options.option fields).
    Options: ClassVar[type] = NoOptions
    # Runner kinds this backend can build.
    offers: ClassVar[tuple[str, ...]] = ("network",)
    # Per runner kind, the model artefacts (models.base.ARTEFACTS) this backend can build from; any one
    # will do, none listed means it needs none.
    consumes: ClassVar[dict[str, tuple[str, ...]]] = {"network": ("torch",)}
    # Kinds of published weights files (WeightsFile.kind) it picks up from data/models, best first.
    weights_kinds: ClassVar[tuple[str, ...]] = ("torch",)
    # False for backends that never read the inputs (the null backend): the SUT then skips the gather.
    consumes_inputs: ClassVar[bool] = True

    def __init__(self, model: ModelSpec, context: BackendContext, options: Any = None) -> None:
        self.model = model
        self.context = context
        self.options = options if options is not None else type(self).Options()

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(usable here, why not) without building anything."""
        return True, ""

    @classmethod
    def can_build(cls, kind: str, model: type[ModelSpec]) -> bool:
        """Whether this backend can build a ``kind`` runner from what ``model`` offers."""
        if kind not in cls.offers:
            return False
        wanted = cls.consumes.get(kind, ())
        return not wanted or any(a in model.artefacts for a in wanted)

    @classmethod
    def gpu_usable(cls) -> bool:
        """Whether this backend can run on the machine's GPUs (checked only when a GPU is visible)."""
        return True

    @abc.abstractmethod
    def devices(self) -> list[str]:
        """Device names runners will be created on, e.g. ['cuda:0', 'cuda:1'] or ['cpu']."""

    @abc.abstractmethod
    def create_runner(self, device: str, stream_index: int) -> Runner:
        """A runner of ``context.kind`` on ``device``."""

    @abc.abstractmethod
    def info(self) -> BackendInfo: ...

    def runners(self) -> list[Runner]:
        """streams_per_device runners on every device, device-major order."""
        return [self.create_runner(device, s)
                for device in self.devices() for s in range(self.context.streams_per_device)]
