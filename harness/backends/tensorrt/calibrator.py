"""The INT8 entropy calibrator: feeds the MLPerf calibration batches to TensorRT from torch CUDA memory,
and keeps TensorRT's calibration cache on disk so later builds skip calibration.

(TensorRT 10.1 deprecated implicit-quantization calibrators in favour of Q/DQ ONNX models; they
work throughout TensorRT 10, TensorRT 11 removed them and TensorRT for RTX never had them, so only a
TensorRT 10 flavour imports this module. An ONNX model that carries Q/DQ nodes is built without one.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from harness.backends.tensorrt.flavour import active

if TYPE_CHECKING:  # checked against TensorRT 10's stubs; at run time, the process's flavour
    import tensorrt as trt
else:
    trt = active().module


class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
    def __init__(self, load: Callable[[np.ndarray], dict[str, np.ndarray]], batches: Sequence[np.ndarray],
                 graph_to_model: Mapping[str, str], graph_dtypes: Mapping[str, str], cache_path: Path,
                 device_index: int) -> None:
        trt.IInt8EntropyCalibrator2.__init__(self)
        self._load = load
        self._batches = list(batches)
        self._graph_to_model = dict(graph_to_model)
        self._graph_dtypes = dict(graph_dtypes)
        self.cache_path = cache_path
        self._device = torch.device("cuda", device_index)
        self._next = 0
        self._held: dict[str, torch.Tensor] = {}  # the current batch stays alive until TensorRT asks again
        self.used_cache = False
        self.batches_fed = 0

    def get_batch_size(self) -> int:
        return 1  # explicit-batch networks: the batch size is part of the calibration profile's shapes

    def get_batch(self, names: list[str]) -> list[int]:
        if self._next >= len(self._batches):
            self._held = {}
            return []  # no more data: calibration ends
        arrays = self._load(self._batches[self._next])
        self._next += 1
        pointers = []
        held = {}
        for graph_name in names:
            array = arrays[self._graph_to_model[graph_name]]
            array = np.ascontiguousarray(array, dtype=self._graph_dtypes[graph_name])
            tensor = torch.from_numpy(array).to(self._device)
            held[graph_name] = tensor
            pointers.append(int(tensor.data_ptr()))
        torch.cuda.synchronize(self._device)
        self._held = held
        self.batches_fed += 1
        return pointers

    def read_calibration_cache(self) -> bytes | None:  # type: ignore[override]  # None = no cache: calibrate
        if self.cache_path.is_file():
            self.used_cache = True
            return self.cache_path.read_bytes()
        return None

    def write_calibration_cache(self, cache: Any) -> None:
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache_path.with_name(self.cache_path.name + ".partial")
        partial.write_bytes(bytes(memoryview(cache)))
        os.replace(partial, self.cache_path)
