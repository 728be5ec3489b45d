"""The torch backend's CUDA runner: one CUDA stream, pinned host staging, optional CUDA graphs per
batch size, optional torch.compile shapes, optional start_from_device gathering.

Batches go through fixed device buffers sized for the largest batch. With CUDA graphs (or a compiled
module) a batch runs at the smallest captured size that holds it - powers of two up to the batch
size - and the rows past it are ignored, so shapes stay static and nothing is captured or compiled
during the timed run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.backends.base import NetworkRunner
from harness.backends.device_samples import DeviceSamples, graph_batch_sizes, pick_graph_size
from models.base import TensorSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from harness.qsl import SampleStore


class TorchCudaRunner(NetworkRunner):
    def __init__(self, module: "torch.nn.Module", device: str, float_dtype: "torch.dtype",
                 channels_last: bool, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], max_batch: int,
                 use_cuda_graphs: bool, static_shapes: bool, samples: DeviceSamples | None) -> None:
        import torch

        self._torch = torch
        self.module = module
        self.device = device
        self._device = torch.device(device)
        self._float_dtype = float_dtype
        self._channels_last = channels_last
        self._inputs = list(inputs)
        self._outputs = list(outputs)
        self._max_batch = max_batch
        self._samples = samples
        self._fixed = all(-1 not in spec.shape for spec in inputs)
        # Graphs and compiled shapes need fixed per-sample shapes.
        self._use_graphs = use_cuda_graphs and self._fixed
        self._bucketed = (use_cuda_graphs or static_shapes) and self._fixed
        self.sizes = graph_batch_sizes(max_batch) if self._bucketed else []
        self._graphs: dict[int, tuple["torch.cuda.CUDAGraph", list["torch.Tensor"]]] = {}
        with torch.cuda.device(self._device):
            self._stream = torch.cuda.Stream(device=self._device)
            self._dev_in = {s.name: torch.empty((max_batch, *s.full_shape), dtype=getattr(torch, s.dtype),
                                                device=self._device) for s in inputs}
            self._pin_in = {s.name: torch.empty((max_batch, *s.full_shape), dtype=getattr(torch, s.dtype),
                                                pin_memory=True) for s in inputs}
            self._pin_out = {s.name: torch.empty((max_batch, *s.full_shape), dtype=getattr(torch, s.dtype),
                                                 pin_memory=True) for s in outputs}

    @property
    def graph_sizes(self) -> list[int]:
        return sorted(self._graphs)

    @property
    def torch_device(self) -> str:
        return self.device

    # -- staging --------------------------------------------------------------
    def _rows(self, buffer: "torch.Tensor", shape: tuple[int, ...]) -> "torch.Tensor":
        """The leading part of a max-size buffer viewed as ``shape`` (shares its storage)."""
        count = int(np.prod(shape, dtype=np.int64))
        return buffer.view(-1)[:count].view(shape)

    def _stage_host(self, inputs: dict[str, np.ndarray]) -> dict[str, "torch.Tensor"]:
        staged = {}
        for spec in self._inputs:
            array = inputs[spec.name]
            pinned = self._rows(self._pin_in[spec.name], array.shape)
            np.copyto(pinned.numpy(), array, casting="same_kind")
            device = self._rows(self._dev_in[spec.name], array.shape)
            device.copy_(pinned, non_blocking=True)
            staged[spec.name] = device
        return staged

    # -- running --------------------------------------------------------------
    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode(), torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            return self._execute(self._stage_host(inputs), count)

    def infer_tensors(self, inputs: dict[str, "torch.Tensor"], count: int) -> dict[str, "torch.Tensor"]:
        """Device tensors in, device tensors out (eager, on this runner's stream; no host copies)."""
        torch = self._torch
        caller = torch.cuda.current_stream(self._device)
        self._stream.wait_stream(caller)
        with torch.inference_mode(), torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            outs = self._forward([inputs[s.name] for s in self._inputs])
            results = {spec.name: out[:count].to(getattr(torch, spec.dtype)) for spec, out in zip(self._outputs, outs)}
        caller.wait_stream(self._stream)
        return results

    def infer_samples(self, store: "SampleStore", qsl_indices: np.ndarray, count: int) -> dict[str, np.ndarray]:
        if self._samples is None:
            return super().infer_samples(store, qsl_indices, count)
        torch = self._torch
        with torch.inference_mode(), torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            batch = self._samples.gather(store, qsl_indices)
            if self._bucketed:  # graphs read the fixed buffers: gather into them
                for name, tensor in batch.items():
                    self._rows(self._dev_in[name], tuple(tensor.shape)).copy_(tensor)
                batch = {name: self._rows(self._dev_in[name], tuple(t.shape)) for name, t in batch.items()}
            return self._execute(batch, count)

    def _prepare(self, tensor: "torch.Tensor") -> "torch.Tensor":
        torch = self._torch
        if tensor.is_floating_point() and tensor.dtype != self._float_dtype:
            tensor = tensor.to(self._float_dtype)
        if self._channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def _forward(self, args: list["torch.Tensor"]) -> list["torch.Tensor"]:
        out = self.module(*[self._prepare(a) for a in args])
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def _execute(self, tensors: dict[str, "torch.Tensor"], count: int) -> dict[str, np.ndarray]:
        size = pick_graph_size(self.sizes, count) if self._bucketed else None
        if size is not None and size in self._graphs:
            graph, outs = self._graphs[size]
            graph.replay()
        elif size is not None:  # compiled module: run the whole bucket, rows past count are stale
            outs = self._forward([self._dev_in[s.name][:size] for s in self._inputs])
        else:
            outs = self._forward([tensors[s.name] for s in self._inputs])
        results = {}
        for spec, out in zip(self._outputs, outs):
            rows = out[:count].to(getattr(self._torch, spec.dtype))
            pinned = self._rows(self._pin_out[spec.name], tuple(rows.shape))
            pinned.copy_(rows, non_blocking=True)
            results[spec.name] = pinned
        self._stream.synchronize()
        # Views of the pinned buffers: valid until this runner's next batch (the SUT packs them first).
        return {name: tensor.numpy() for name, tensor in results.items()}

    # -- warm-up --------------------------------------------------------------
    def warmup(self, inputs: dict[str, np.ndarray], count: int) -> None:
        """Run every batch size the timed run can use (compiling those shapes), then capture the graphs."""
        torch = self._torch
        self.infer(inputs, count)
        if not self._bucketed:
            return
        example = {name: np.resize(array, (self._max_batch, *array.shape[1:])) for name, array in inputs.items()}
        for size in self.sizes:
            self.infer({name: array[:size] for name, array in example.items()}, size)
        if not self._use_graphs:
            return
        with torch.inference_mode(), torch.cuda.device(self._device):
            pool = torch.cuda.graph_pool_handle()
            for size in sorted(self.sizes, reverse=True):  # largest first, so smaller graphs reuse its pool
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool, stream=self._stream):
                    outs = self._forward([self._dev_in[s.name][:size] for s in self._inputs])
                self._graphs[size] = (graph, outs)
            self._stream.synchronize()

    def close(self) -> None:
        if getattr(self, "_stream", None) is not None:
            self._stream.synchronize()
        self._graphs = {}
