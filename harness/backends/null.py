"""The null backend: no compute, a fixed valid output. It measures the harness itself."""

from __future__ import annotations

import numpy as np

from harness.backends.base import Backend, BackendInfo, Runner


class NullRunner(Runner):
    device = "cpu"

    def __init__(self, outputs: dict[str, np.ndarray]) -> None:
        self._outputs = outputs

    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        return {name: array[:count] for name, array in self._outputs.items()}


class NullBackend(Backend):
    name = "null"
    consumes_inputs = False

    def devices(self) -> list[str]:
        return ["cpu"]

    def create_runner(self, device: str, stream_index: int) -> Runner:
        size = self.options.max_batch_size
        outputs = {spec.name: np.zeros((size, *spec.full_shape), dtype=spec.dtype) for spec in self.model.outputs}
        return NullRunner(outputs)

    def info(self) -> BackendInfo:
        return BackendInfo(
            name=self.name, devices=self.devices(), precision="none",
            notes=["null backend: no inference; every sample gets the same zero output (measures the harness)"],
        )
