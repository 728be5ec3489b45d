"""One execution context and CUDA stream on one GPU: pinned host staging, device buffers from torch,
I/O by tensor name (set_tensor_address / set_input_shape / execute_async_v3), optional CUDA graphs
per batch size, optional start_from_device gathering."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from harness.backends.base import NetworkRunner
from harness.backends.device_samples import DeviceSamples, graph_batch_sizes, pick_graph_size
from harness.backends.tensorrt.flavour import active
from harness.backends.tensorrt.profiles import buffer_elements, dtype_name, rows_elements
from harness.errors import HarnessError
from models.base import TensorSpec

if TYPE_CHECKING:  # checked against TensorRT 10's stubs; at run time, the process's flavour
    import tensorrt as trt

    from harness.qsl import SampleStore
else:
    trt = active().module


@dataclass(frozen=True)
class TensorIO:
    model_name: str
    graph_name: str
    engine_dtype: str  # numpy name of the engine tensor's type
    model_dtype: str  # what the model declares (outputs are handed back in it)
    max_shape: tuple[int, ...]  # batch axis first


@dataclass
class CapturedGraph:
    graph: torch.cuda.CUDAGraph
    output_shapes: dict[str, tuple[int, ...]]


@dataclass
class RunnerStats:
    graph_sizes: list[int] = field(default_factory=list)
    graph_note: str = ""


def _shape(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


class TensorRTRunner(NetworkRunner):
    def __init__(self, engine: trt.ICudaEngine, device_index: int, profile_index: int,
                 inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], input_map: Mapping[str, str],
                 output_map: Mapping[str, str], use_cuda_graphs: bool, samples: DeviceSamples | None) -> None:
        self.device = f"cuda:{device_index}"
        self._device = torch.device("cuda", device_index)
        self._samples = samples
        self.stats = RunnerStats()
        with torch.cuda.device(self._device):
            self._stream = torch.cuda.Stream(device=self._device)
            context = engine.create_execution_context()
            if context is None:
                raise HarnessError(f"TensorRT could not create an execution context on {self.device} "
                                   "(out of GPU memory?)",
                                   "use fewer streams_per_device or a smaller batch_size in the system config")
            self._context = context
            if not context.set_optimization_profile_async(profile_index, self._stream.cuda_stream):
                raise HarnessError(f"TensorRT refused optimization profile {profile_index} on {self.device}",
                                   "rebuild the engine (delete its folder under build/engines)")
            self._stream.synchronize()
            self._inputs = [self._input_io(engine, spec, input_map[spec.name], profile_index) for spec in inputs]
            for io in self._inputs:  # the largest shapes, to size the output buffers
                self._set_shape(io.graph_name, io.max_shape)
            self._outputs = [self._output_io(engine, spec, output_map[spec.name]) for spec in outputs]
            self._device_buffers: dict[str, torch.Tensor] = {}
            self._pinned: dict[str, torch.Tensor] = {}
            self._pinned_np: dict[str, np.ndarray] = {}
            for io in [*self._inputs, *self._outputs]:
                count = buffer_elements(io.max_shape)
                dtype = getattr(torch, io.engine_dtype)
                self._device_buffers[io.graph_name] = torch.empty(count, dtype=dtype, device=self._device)
                self._pinned[io.graph_name] = torch.empty(count, dtype=dtype, pin_memory=True)
                self._pinned_np[io.graph_name] = self._pinned[io.graph_name].numpy()
                if not context.set_tensor_address(io.graph_name, self._device_buffers[io.graph_name].data_ptr()):
                    raise HarnessError(f"TensorRT refused the buffer for tensor '{io.graph_name}'")
            self._graphs: dict[int, CapturedGraph] = {}
            fixed_shapes = all(-1 not in spec.shape for spec in inputs)
            if use_cuda_graphs and not fixed_shapes:
                self.stats.graph_note = "CUDA graphs off: the model has a sequence axis (shapes change per batch)"
            elif use_cuda_graphs:
                self._capture_graphs()

    # -- set-up -------------------------------------------------------------
    def _input_io(self, engine: trt.ICudaEngine, spec: TensorSpec, graph: str, profile: int) -> TensorIO:
        if engine.get_tensor_mode(graph) != trt.TensorIOMode.INPUT:
            raise HarnessError(f"engine has no input tensor '{graph}'", "rebuild the engine")
        shapes = engine.get_tensor_profile_shape(graph, profile)
        return TensorIO(spec.name, graph, dtype_name(engine.get_tensor_dtype(graph).name), spec.dtype,
                        _shape(shapes[2]))

    def _output_io(self, engine: trt.ICudaEngine, spec: TensorSpec, graph: str) -> TensorIO:
        if engine.get_tensor_mode(graph) != trt.TensorIOMode.OUTPUT:
            raise HarnessError(f"engine has no output tensor '{graph}'", "rebuild the engine")
        return TensorIO(spec.name, graph, dtype_name(engine.get_tensor_dtype(graph).name), spec.dtype,
                        _shape(self._context.get_tensor_shape(graph)))

    def _set_shape(self, graph: str, shape: Sequence[int]) -> None:
        if not self._context.set_input_shape(graph, tuple(shape)):
            raise HarnessError(f"TensorRT rejected shape {tuple(shape)} for input '{graph}'",
                               "the batch is outside the engine's optimization profile: rebuild the engine")

    def _capture_graphs(self) -> None:
        """One graph per batch size in graph_batch_sizes(max batch); a batch runs the smallest that fits."""
        max_batch = self._inputs[0].max_shape[0]
        try:
            for size in graph_batch_sizes(max_batch):
                for io in self._inputs:
                    self._set_shape(io.graph_name, (size, *io.max_shape[1:]))
                # One plain launch first: TensorRT finishes shape-dependent set-up outside the capture.
                if not self._context.execute_async_v3(self._stream.cuda_stream):
                    raise RuntimeError("execute_async_v3 failed before capture")
                self._stream.synchronize()
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=self._stream, capture_error_mode="thread_local"):
                    self._context.execute_async_v3(self._stream.cuda_stream)
                shapes = {io.graph_name: _shape(self._context.get_tensor_shape(io.graph_name))
                          for io in self._outputs}
                self._graphs[size] = CapturedGraph(graph, shapes)
        except RuntimeError as exc:  # capture is not possible for every engine (e.g. some plugins)
            self._graphs = {}
            self.stats.graph_note = f"CUDA graphs off: capture failed ({exc})"
            return
        self.stats.graph_sizes = sorted(self._graphs)

    # -- running ------------------------------------------------------------
    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        with torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            shapes = {}
            for io in self._inputs:
                array = inputs[io.model_name]
                size = array.size
                np.copyto(self._pinned_np[io.graph_name][:size], array.reshape(-1), casting="same_kind")
                self._device_buffers[io.graph_name][:size].copy_(self._pinned[io.graph_name][:size], non_blocking=True)
                shapes[io.graph_name] = tuple(array.shape)
            return self._execute(shapes, count)

    def infer_samples(self, store: "SampleStore", qsl_indices: np.ndarray, count: int) -> dict[str, np.ndarray]:
        if self._samples is None:
            return super().infer_samples(store, qsl_indices, count)
        with torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            return self._execute(self._stage_on_device(self._samples.gather(store, qsl_indices)), count)

    @property
    def torch_device(self) -> str:
        return self.device

    def infer_tensors(self, inputs: dict[str, "torch.Tensor"], count: int) -> dict[str, "torch.Tensor"]:
        """Device tensors in, views of the engine's output buffers out (valid until this runner's next
        call): a program stitching windows keeps its work on the GPU."""
        caller = torch.cuda.current_stream(self._device)
        self._stream.wait_stream(caller)
        with torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            out_shapes = self._launch(self._stage_on_device(inputs), count)
            results = {}
            for io in self._outputs:
                shape = (count, *out_shapes[io.graph_name][1:])
                rows = self._device_buffers[io.graph_name][: rows_elements(out_shapes[io.graph_name], count)]
                results[io.model_name] = rows.view(shape).to(getattr(torch, io.model_dtype))
        caller.wait_stream(self._stream)
        return results

    def _stage_on_device(self, tensors: dict[str, "torch.Tensor"]) -> dict[str, tuple[int, ...]]:
        """Device tensors copied into the engine's input buffers (on this runner's stream); their shapes."""
        shapes = {}
        for io in self._inputs:
            tensor = tensors[io.model_name]
            self._device_buffers[io.graph_name][: tensor.numel()].view(tensor.shape).copy_(tensor)
            shapes[io.graph_name] = tuple(tensor.shape)
        return shapes

    def _launch(self, shapes: dict[str, tuple[int, ...]], count: int) -> dict[str, tuple[int, ...]]:
        """Inputs are in the device buffers: queue the engine (a captured graph when one fits) on the
        stream; returns the output shapes."""
        graph_size = pick_graph_size(list(self._graphs), count) if self._graphs else None
        if graph_size is not None:
            captured = self._graphs[graph_size]
            captured.graph.replay()
            return {name: (count, *shape[1:]) for name, shape in captured.output_shapes.items()}
        for name, shape in shapes.items():
            self._set_shape(name, shape)
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise RuntimeError(f"TensorRT execute_async_v3 failed on {self.device} (batch {count})")
        return {io.graph_name: _shape(self._context.get_tensor_shape(io.graph_name)) for io in self._outputs}

    def _execute(self, shapes: dict[str, tuple[int, ...]], count: int) -> dict[str, np.ndarray]:
        """Inputs are in the device buffers (queued on the stream): run, copy outputs back, wait."""
        out_shapes = self._launch(shapes, count)
        sizes = {}
        for io in self._outputs:
            size = rows_elements(out_shapes[io.graph_name], count)
            self._pinned[io.graph_name][:size].copy_(self._device_buffers[io.graph_name][:size], non_blocking=True)
            sizes[io.graph_name] = size
        self._stream.synchronize()
        results = {}
        for io in self._outputs:
            shape = (count, *out_shapes[io.graph_name][1:])
            host = self._pinned_np[io.graph_name][: sizes[io.graph_name]].reshape(shape)
            results[io.model_name] = host.astype(io.model_dtype, copy=True)  # the pinned buffer is reused
        return results

    def close(self) -> None:
        if getattr(self, "_stream", None) is not None:
            self._stream.synchronize()
        self._graphs = {}
        self._device_buffers = {}
        self._pinned = {}
        self._pinned_np = {}
