"""The null backend: no compute, a fixed valid output. It measures the harness (and the model's program) itself.

Its one knob, ``delay_per_batch_ms``, makes every runner call take a fixed extra time, so a slower night
(a performance regression) can be produced on purpose on any machine.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.backends.base import Backend, BackendInfo, GeneratorRunner, NetworkRunner, Runner
from harness.errors import HarnessError
from harness.options import option
from models.generation import OnDone


@dataclass(frozen=True)
class NullOptions:
    delay_per_batch_ms: float = option(0.0, "null backend: fixed time added to every runner call (a batch, or one "
                                            "generation request), to slow runs down on purpose", minimum=0.0)


class NullRunner(NetworkRunner):
    device = "cpu"

    def __init__(self, outputs: dict[str, np.ndarray], delay_s: float = 0.0) -> None:
        self._outputs = outputs
        self._delay_s = delay_s

    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        if self._delay_s:
            time.sleep(self._delay_s)
        return {name: array[:count] for name, array in self._outputs.items()}


class NullGenerator(GeneratorRunner):
    """Every request is answered at once, on the caller's thread, with the same token ids."""

    device = "cpu"

    def __init__(self, tokens: np.ndarray, delay_s: float = 0.0) -> None:
        self._tokens = tokens
        self._delay_s = delay_s

    def submit(self, request_id: int, prompt: np.ndarray, on_done: OnDone) -> None:
        if self._delay_s:
            time.sleep(self._delay_s)
        on_done(request_id, self._tokens)

    def busy(self) -> bool:
        return False

    def warmup(self, prompts: Sequence[np.ndarray]) -> None:
        return None


class NullBackend(Backend):
    name = "null"
    Options = NullOptions
    offers = ("network", "generator")
    consumes = {"network": (), "generator": ()}
    weights_kinds = ()
    consumes_inputs = False

    @classmethod
    def gpu_usable(cls) -> bool:
        return False

    def devices(self) -> list[str]:
        return ["cpu"]

    def create_runner(self, device: str, stream_index: int) -> Runner:
        if self.context.kind == "generator":
            params = self.model.generation
            if params is None:
                raise HarnessError(f"model {self.model.name} needs a generator but declares no generation "
                                   "parameters (ModelSpec.generation)")
            length = max(params.min_new_tokens, 1)
            return NullGenerator(np.full(length, params.eos_token_id, dtype=np.int64), self._delay_s)
        if self.model.network is None:
            raise HarnessError(f"model {self.model.name} declares no network (ModelSpec.network) for the null "
                               "backend to imitate")
        size = self.context.max_batch_size
        outputs = {spec.name: np.zeros((size, *spec.full_shape), dtype=spec.dtype)
                   for spec in self.model.network.outputs}
        return NullRunner(outputs, self._delay_s)

    @property
    def _delay_s(self) -> float:
        return float(self.options.delay_per_batch_ms) / 1000.0

    def info(self) -> BackendInfo:
        what = ("every request gets the same minimal generation" if self.context.kind == "generator"
                else "every network call gets the same zero output")
        notes = [f"null backend: no inference; {what} (measures the harness)"]
        delay = self.options.delay_per_batch_ms
        if delay:
            notes.append(f"null backend: every runner call waits {delay:g} ms (delay_per_batch_ms)")
        return BackendInfo(name=self.name, devices=self.devices(), precision="none", notes=notes,
                           details={"delay_per_batch_ms": delay})
