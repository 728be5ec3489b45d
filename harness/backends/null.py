"""The null backend: no compute, a fixed valid output. It measures the harness (and the model's program) itself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.backends.base import Backend, BackendInfo, GeneratorRunner, NetworkRunner, Runner
from harness.errors import HarnessError
from models.generation import OnDone


class NullRunner(NetworkRunner):
    device = "cpu"

    def __init__(self, outputs: dict[str, np.ndarray]) -> None:
        self._outputs = outputs

    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        return {name: array[:count] for name, array in self._outputs.items()}


class NullGenerator(GeneratorRunner):
    """Every request is answered at once, on the caller's thread, with the same token ids."""

    device = "cpu"

    def __init__(self, tokens: np.ndarray) -> None:
        self._tokens = tokens

    def submit(self, request_id: int, prompt: np.ndarray, on_done: OnDone) -> None:
        on_done(request_id, self._tokens)

    def busy(self) -> bool:
        return False

    def warmup(self, prompts: Sequence[np.ndarray]) -> None:
        return None


class NullBackend(Backend):
    name = "null"
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
            return NullGenerator(np.full(length, params.eos_token_id, dtype=np.int64))
        if self.model.network is None:
            raise HarnessError(f"model {self.model.name} declares no network (ModelSpec.network) for the null "
                               "backend to imitate")
        size = self.context.max_batch_size
        outputs = {spec.name: np.zeros((size, *spec.full_shape), dtype=spec.dtype)
                   for spec in self.model.network.outputs}
        return NullRunner(outputs)

    def info(self) -> BackendInfo:
        what = ("every request gets the same minimal generation" if self.context.kind == "generator"
                else "every network call gets the same zero output")
        return BackendInfo(
            name=self.name, devices=self.devices(), precision="none",
            notes=[f"null backend: no inference; {what} (measures the harness)"],
        )
