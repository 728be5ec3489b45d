"""Generative models: generation parameters, what a model's torch generator provides, and the stock program.

A generative model's program needs a *generator* runner (harness.backends.base.GeneratorRunner): prompts
in, generated token ids out, each sample reported as soon as it finishes, so new prompts can join the
running batch (continuous batching). Backends build generators their own way: TensorRT-LLM from a
checkpoint folder, the torch backend from the model's ``torch_generator()``, which returns one of:

- a ``StepDecoder``: fixed slots, one decode step at a time; prompts join free slots between steps and
  leave when finished (continuous batching; the fast path);
- a ``BatchGenerate``: a function from a batch of prompts to their generated ids (static batches; e.g.
  transformers' generate, the correctness yardstick).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from models.program import Done, InFlight, Program, ProgramSetup, SampleSource

if TYPE_CHECKING:  # pragma: no cover
    from models.base import ModelSpec


@dataclass(frozen=True)
class GenerationParams:
    """Decoding as the benchmark's reference runs it (transformers' generate arguments)."""

    num_beams: int = 1
    max_new_tokens: int = 32
    min_new_tokens: int = 0
    early_stopping: bool = False
    eos_token_id: int = 0
    pad_token_id: int = 0
    # Longest prompt the generator must accept (longer ones are a model error, not truncated silently).
    max_input_tokens: int = 1024


@runtime_checkable
class StepDecoder(Protocol):
    """A generator that advances all its occupied slots one token per step."""

    slots: int

    def admit(self, slot: int, prompt: np.ndarray) -> None:
        """Start decoding ``prompt`` (1-D token ids) in a free slot (runs its prefill)."""
        ...

    def step(self) -> list[tuple[int, np.ndarray]]:
        """One decode step for every occupied slot; returns (slot, generated ids) of those that finished.
        Their slots are free again."""
        ...


@runtime_checkable
class BatchGenerate(Protocol):
    """A generator that decodes a whole batch of prompts to completion."""

    max_batch: int

    def __call__(self, prompts: list[np.ndarray]) -> list[np.ndarray]: ...


# on_done(request id, generated token ids)
OnDone = Callable[[int, np.ndarray], None]


class Generate(Program):
    """Hand each sample's prompt to the generator; complete each sample when its generation finishes.

    Works for Offline (the whole query is submitted; the generator keeps its slots full) and Server
    (samples join the running batch as they arrive). Responses are what ``model.postprocess`` makes of
    ``{"output_ids": tokens[None]}``.
    """

    needs = "generator"
    batching = "program"
    completes_in_run = False
    prompt_input: ClassVar[str] = "input_ids"

    def __init__(self, model: "ModelSpec", runner: Any, samples: SampleSource, setup: ProgramSetup) -> None:
        super().__init__(model, runner, samples, setup)
        self._in_flight = InFlight()
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def run(self, ids: Sequence[int], qsl_indices: np.ndarray, done: Done) -> None:
        self._in_flight.add(len(ids))
        for sample_id, index in zip(ids, np.asarray(qsl_indices).tolist()):
            prompt = self.samples.sample(int(index))[self.prompt_input]
            self.runner.submit(int(sample_id), prompt, partial(self._finished, done, int(index)))

    def _finished(self, done: Done, qsl_index: int, sample_id: int, tokens: np.ndarray) -> None:
        try:
            done([sample_id], self.model.postprocess({"output_ids": np.asarray(tokens)[None]},
                                                     np.array([qsl_index], dtype=np.int64)))
        except BaseException as exc:
            with self._lock:
                self._error = self._error or exc
            raise
        finally:
            self._in_flight.remove(1)

    def busy(self) -> bool:
        return self._in_flight.count > 0

    def drain(self) -> None:
        while not self._in_flight.wait_empty(0.5):
            if self.failure() is not None:
                return

    def failure(self) -> BaseException | None:
        return self._error or self.runner.failure()


def generate_all(generator: StepDecoder, prompts: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Decode every prompt through a step decoder, keeping its slots full (a reference loop for tests
    and warm-up; the harness's runner does the same on its own thread)."""
    results: list[np.ndarray | None] = [None] * len(prompts)
    waiting = list(range(len(prompts)))[::-1]
    owner: dict[int, int] = {}
    free = list(range(generator.slots))[::-1]
    while waiting or owner:
        while waiting and free:
            slot, request = free.pop(), waiting.pop()
            generator.admit(slot, np.asarray(prompts[request]))
            owner[slot] = request
        for slot, tokens in generator.step():
            results[owner.pop(slot)] = np.asarray(tokens)
            free.append(slot)
    return [r for r in results if r is not None]
