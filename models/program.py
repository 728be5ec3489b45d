"""Inference programs: how a model turns samples into runner calls.

The SUT decides *when* work happens (Offline: the whole query at once; Server: as queries arrive); the
model's program decides *how*. The harness builds one program per runner and calls ``run`` with LoadGen's
sample ids, their QSL indices and a completion callback ``done``. A program may call its runner as often
as it needs and may call ``done`` any number of times, for any subset of the samples, in any order, from
any thread, until every sample it was handed has been completed exactly once.

- ``SinglePass`` (the default): one network call per batch, one completion per batch
  (ResNet50, RetinaNet, BERT).
- A model folder defines its own program in ``program.py`` when it needs more: a sliding window of
  network calls stitched per sample (3D-UNet), or prompts handed to a generator runner that reports
  each sample as it finishes (GPT-J; see models/generation.py).

A program names the runner kind it ``needs`` ("network" or "generator"); backends say which kinds they
offer, and a mismatch is refused before anything is built.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from models.specs import Responses

if TYPE_CHECKING:  # pragma: no cover
    from models.base import ModelSpec

# done(ids, responses): response i answers LoadGen sample ids[i]. Callable many times, from any thread.
Done = Callable[[Sequence[int], Responses], None]


class SampleSource(Protocol):
    """The QSL's memory as a program sees it (harness.qsl.SampleStore implements it)."""

    ragged: bool
    total_count: int

    def gather(self, qsl_indices: np.ndarray) -> dict[str, np.ndarray]:
        """Stacked samples: one array per input, rows in ``qsl_indices`` order (sequence axes cropped)."""
        ...

    def sample(self, qsl_index: int) -> dict[str, np.ndarray]:
        """One sample's arrays (its own shape; a stacked sample cropped to its length)."""
        ...

    def example(self, count: int) -> dict[str, np.ndarray]:
        """A stacked batch of ``count`` samples for warm-up (loaded ones first)."""
        ...

    def example_indices(self, count: int) -> np.ndarray:
        """QSL indices of up to ``count`` samples a warm-up may use with ``sample``."""
        ...


@dataclass(frozen=True)
class ProgramSetup:
    """What the harness tells a program besides its runner."""

    # Harness batching: the most samples one run() call gets. Program batching: the most samples the
    # runner takes at once (e.g. generator slots); the program may hold more in flight.
    batch_size: int
    # False for runners that ignore their inputs (the null backend): a single-pass program skips the gather.
    consumes_inputs: bool = True
    # The model's options (an instance of ModelSpec.options).
    options: Any = None


def discard(ids: Sequence[int], responses: Responses) -> None:
    """A completion callback for warm-up work: the responses go nowhere."""


class Program(abc.ABC):
    """What a model does with samples on one runner."""

    # The runner kind this program calls: "network" (a forward pass per call) or "generator".
    needs: ClassVar[str] = "network"
    # "harness": the SUT cuts work into batches of batch_size samples per run() call.
    # "program": the SUT hands samples over as they come; the program batches them itself.
    batching: ClassVar[str] = "harness"
    # True when done() is only called on the thread that called run(), before run() returns, with
    # exactly the ids it was given: the SUT then recycles response objects per worker (the fast path).
    # Programs that complete later, or piecemeal, set it False and implement busy().
    completes_in_run: ClassVar[bool] = False
    # Samples a default warm-up runs through the program.
    warmup_samples: ClassVar[int] = 1
    # Whether the harness checks every completion against the ids handed over (twice, never, unknown).
    checked: ClassVar[bool] = True

    def __init__(self, model: "ModelSpec", runner: Any, samples: SampleSource, setup: ProgramSetup) -> None:
        self.model = model
        self.runner = runner
        self.samples = samples
        self.setup = setup

    @classmethod
    def runner_batch_size(cls, batch_size: int, options: Any) -> int:
        """The most rows (or generator slots) one runner call takes: what backends size engines, buffers
        and CUDA graphs for. The run's batch_size by default; a program that batches its own units
        (windows of a volume) says how many."""
        return batch_size

    @property
    def needs_indices(self) -> bool:
        """Whether run() reads its QSL indices (when not, the SUT may pass LoadGen's list unconverted)."""
        return True

    def warmup(self) -> None:
        """First-call costs (allocation, autotuning, graph capture) outside the timed run. The default
        runs the program itself over a few samples and waits for them."""
        self._example_pass(self.warmup_samples)

    def measure_rate(self) -> float | None:
        """Samples/s this program sustains on its runner after warm-up (None: no estimate). It sizes demo
        Offline runs and is recorded. The default times one pass over a runner batch of samples (at
        least warmup_samples), so a program that batches is measured batching."""
        started = time.monotonic()
        count = self._example_pass(max(self.warmup_samples, self.setup.batch_size))
        return count / max(time.monotonic() - started, 1e-9)

    def _example_pass(self, count: int) -> int:
        """Run up to ``count`` example samples through the program, answers discarded; how many ran."""
        indices = self.samples.example_indices(min(count, self.samples.total_count))
        self.run(list(range(len(indices))), indices, discard)
        self.drain()
        return len(indices)

    @abc.abstractmethod
    def run(self, ids: Sequence[int], qsl_indices: np.ndarray, done: Done) -> None:
        """Answer these samples through ``done``, now or later."""

    def busy(self) -> bool:
        """True while the program holds samples it has not completed (programs that complete in run()
        never do once run() has returned)."""
        return False

    def drain(self) -> None:
        """Block until every sample handed to run() has been completed."""

    def failure(self) -> BaseException | None:
        """An error raised away from the caller's thread (e.g. in a generator's loop), if any: the run
        then stops as failed instead of waiting for samples that will never complete."""
        return None

    def close(self) -> None:
        """Release what the program holds (its runner is closed by the harness)."""


class SinglePass(Program):
    """One network call per batch and one completion per batch: the default program."""

    completes_in_run = True
    # It completes exactly the ids it is handed, once: its hot path skips the per-sample bookkeeping.
    checked = False

    def __init__(self, model: "ModelSpec", runner: Any, samples: SampleSource, setup: ProgramSetup) -> None:
        super().__init__(model, runner, samples, setup)
        self._postprocess = model.postprocess
        self._consumes = setup.consumes_inputs

    @property
    def needs_indices(self) -> bool:
        return self._consumes or self.model.postprocess_reads_indices

    def warmup(self) -> None:
        if not self._consumes:
            return
        count = min(self.setup.batch_size, self.samples.total_count)
        self.runner.warmup(self.samples.example(count), count)

    def measure_rate(self) -> float | None:
        """Best of three batches of batch_size after warm-up."""
        if not self._consumes:
            return None
        count = min(self.setup.batch_size, self.samples.total_count)
        example = self.samples.example(count)
        best = float("inf")
        for _ in range(3):
            started = time.monotonic()
            self.runner.infer(example, count)
            best = min(best, time.monotonic() - started)
        return count / max(best, 1e-9)

    def run(self, ids: Sequence[int], qsl_indices: Any, done: Done) -> None:
        """``qsl_indices`` is an int64 array when ``needs_indices``; otherwise LoadGen's list, unread."""
        if self._consumes:
            outputs = self.runner.infer_samples(self.samples, qsl_indices, len(ids))
        else:
            outputs = self.runner.infer({}, len(ids))
        done(ids, self._postprocess(outputs, qsl_indices))


class InFlight:
    """A thread-safe count of samples a program holds, for busy() and drain()."""

    def __init__(self) -> None:
        self._count = 0
        self._cv = threading.Condition()

    def add(self, n: int) -> None:
        with self._cv:
            self._count += n

    def remove(self, n: int) -> None:
        with self._cv:
            self._count -= n
            if self._count <= 0:
                self._cv.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def wait_empty(self, timeout_s: float | None = None) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self._count <= 0, timeout_s)
