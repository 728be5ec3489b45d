"""ONNX Runtime backend (CPU execution provider): the model's ONNX graph in one shared session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.backends.base import Backend, BackendContext, BackendInfo, NetworkRunner, Runner
from harness.errors import HarnessError
from harness.options import option

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime


@dataclass(frozen=True)
class OnnxRuntimeOptions:
    intra_op_threads: int | None = option(None, "onnxruntime threads per session (default: CPU cores / "
                                                "streams_per_device)", minimum=1)


class OnnxRuntimeRunner(NetworkRunner):
    device = "cpu"

    def __init__(self, session: "onnxruntime.InferenceSession", input_map: dict[str, str],
                 output_map: dict[str, str]) -> None:
        self._session = session
        self._inputs = list(input_map.items())
        self._output_names = list(output_map.keys())
        self._graph_outputs = list(output_map.values())

    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        feed = {graph_name: inputs[name] for name, graph_name in self._inputs}
        results = self._session.run(self._graph_outputs, feed)
        return dict(zip(self._output_names, results))


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    Options = OnnxRuntimeOptions
    consumes = {"network": ("onnx",)}
    weights_kinds = ("onnx", "torch")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return False, "onnxruntime is not installed (pip install onnxruntime)"
        return True, ""

    @classmethod
    def gpu_usable(cls) -> bool:
        return False

    def __init__(self, model: Any, context: BackendContext, options: Any = None) -> None:
        super().__init__(model, context, options)
        import onnxruntime as ort

        if context.device == "cuda":
            raise HarnessError("the onnxruntime backend runs on the CPU only",
                               "use --backend torch (or tensorrt) for the GPU")
        self.notes: list[str] = []
        if context.precision != "fp32":
            self.notes.append(f"onnxruntime runs the fp32 graph; {context.precision} asked for")
        self.onnx = model.onnx_model(context.cache_dir)
        session_options = ort.SessionOptions()
        threads = self.options.intra_op_threads or max(1, (os.cpu_count() or 1) // max(1, context.streams_per_device))
        session_options.intra_op_num_threads = threads
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.onnx.path), session_options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise HarnessError(f"onnxruntime cannot load {self.onnx.path}: {exc}",
                               "delete the file to re-export it, or fetch the model again") from None
        self._threads = threads

    def devices(self) -> list[str]:
        return ["cpu"]

    def create_runner(self, device: str, stream_index: int) -> Runner:
        return OnnxRuntimeRunner(self.session, self.onnx.input_names, self.onnx.output_names)

    def info(self) -> BackendInfo:
        import onnxruntime as ort

        return BackendInfo(self.name, self.devices(), "fp32", {"onnxruntime": ort.__version__}, list(self.notes),
                           {"onnx": str(self.onnx.path), "onnx_source": self.onnx.source,
                            "intra_op_threads": self._threads})
