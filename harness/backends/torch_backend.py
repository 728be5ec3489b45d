"""PyTorch backend: the model's torch module (network runners) or torch generator (generator runners),
on the CPU or on every visible CUDA GPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.backends.base import Backend, BackendContext, BackendInfo, NetworkRunner, Runner
from harness.backends.device_samples import DeviceSamples
from harness.errors import HarnessError
from harness.options import option

if TYPE_CHECKING:  # pragma: no cover
    import torch

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
TORCH_COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class TorchOptions:
    channels_last: bool = option(False, "4-D inputs and weights in channels_last memory format")
    use_cuda_graphs: bool = option(False, "CUDA: one CUDA graph per power-of-two batch size, captured in warm-up")
    start_from_device: bool = option(False, "CUDA: performance samples preloaded into each GPU's memory")
    torch_compile: str | None = option(None, "CUDA: torch.compile mode; shapes are compiled in warm-up",
                                       choices=TORCH_COMPILE_MODES)
    cudnn_benchmark: bool = option(False, "CUDA: cuDNN times its convolution algorithms per new shape and keeps the "
                                          "fastest (for fixed shapes: 3D-UNet's windows, ResNet50's crops)")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class TorchRunner(NetworkRunner):
    """The CPU runner: eager, inference_mode, optional channels_last."""

    def __init__(self, module: "torch.nn.Module", precision: str, channels_last: bool,
                 inputs: list[str], outputs: list[str], output_dtypes: list[str]) -> None:
        import torch

        self._torch = torch
        self.module = module
        self.device = "cpu"
        self._float_dtype = getattr(torch, _DTYPES[precision])
        self._channels_last = channels_last
        self._inputs = inputs
        self._outputs = outputs
        self._output_dtypes = [getattr(torch, d) for d in output_dtypes]

    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        tensors = {name: self._torch.from_numpy(inputs[name]) for name in self._inputs}
        return {name: t.numpy() for name, t in self.infer_tensors(tensors, count).items()}

    def infer_tensors(self, inputs: dict[str, "torch.Tensor"], count: int) -> dict[str, "torch.Tensor"]:
        torch = self._torch
        with torch.inference_mode():
            args = []
            for name in self._inputs:
                tensor = inputs[name]
                if tensor.is_floating_point():
                    tensor = tensor.to(self._float_dtype)
                if self._channels_last and tensor.dim() == 4:
                    tensor = tensor.contiguous(memory_format=torch.channels_last)
                args.append(tensor)
            out = self.module(*args)
            if not isinstance(out, (tuple, list)):
                out = (out,)
            return {name: t.to(dtype=dt) for name, t, dt in zip(self._outputs, out, self._output_dtypes)}


class TorchBackend(Backend):
    name = "torch"
    Options = TorchOptions
    offers = ("network", "generator")
    consumes = {"network": ("torch",), "generator": ("torch_generator",)}
    weights_kinds = ("torch", "checkpoint")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        try:
            import torch  # noqa: F401
        except ImportError:
            return False, "torch is not installed (pip install torch)"
        return True, ""

    @classmethod
    def gpu_usable(cls) -> bool:
        return _cuda_available()

    def __init__(self, model: Any, context: BackendContext, options: Any = None) -> None:
        super().__init__(model, context, options)
        import torch

        options = self.options
        wanted = context.device
        if wanted == "cuda" and not torch.cuda.is_available():
            raise HarnessError("a CUDA GPU was asked for, but torch sees none",
                               "check nvidia-smi and CUDA_VISIBLE_DEVICES, or use --device cpu")
        self._use_cuda = wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
        self.precision = context.precision
        self.notes: list[str] = []
        if self.precision not in _DTYPES:
            fallback = "fp16" if self._use_cuda else "fp32"
            self.notes.append(f"torch backend has no {self.precision} path; running {fallback}")
            self.precision = fallback
        if not self._use_cuda and self.precision != "fp32":
            self.notes.append(f"{self.precision} on the CPU is slow or unsupported in torch; running fp32")
            self.precision = "fp32"
        self._modules: dict[str, "torch.nn.Module"] = {}
        self._samples: dict[str, DeviceSamples] = {}
        self._graph_sizes: list[int] = []
        if options.torch_compile and not self._use_cuda:
            self.notes.append("torch.compile is used on CUDA devices only; the CPU runs eager")
        self._kind = context.kind
        self._network = model.network
        if self._kind == "network" and self._network is None:
            raise HarnessError(f"model {model.name} declares no network (ModelSpec.network) to run",
                               "its program needs a generator runner, not a network")
        inputs = self._network.inputs if self._network is not None else ()
        if self._use_cuda and options.use_cuda_graphs and any(-1 in s.shape for s in inputs):
            self.notes.append("CUDA graphs off: the model has a sequence axis (shapes change per batch)")
        if (self._use_cuda and options.torch_compile in ("reduce-overhead", "max-autotune")
                and options.use_cuda_graphs):
            self.notes.append(f"torch.compile mode {options.torch_compile} captures CUDA graphs itself; "
                              "use_cuda_graphs is ignored")
        if self._use_cuda:
            torch.backends.cudnn.benchmark = bool(options.cudnn_benchmark)
        self._generators: list[Any] = []
        self._base = model.torch_module() if self._kind == "network" else None

    def devices(self) -> list[str]:
        if not self._use_cuda:
            return ["cpu"]
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def _module_for(self, device: str) -> "torch.nn.Module":
        import copy

        import torch

        if device not in self._modules:
            assert self._base is not None
            module = self._base if device == "cpu" else copy.deepcopy(self._base)
            module = module.to(torch.device(device))
            if self.precision != "fp32":
                module = module.to(getattr(torch, _DTYPES[self.precision]))
            if self.options.channels_last:
                module = module.to(memory_format=torch.channels_last)
            module = module.eval()
            if self.options.torch_compile and device != "cpu":
                module = torch.compile(module, mode=self.options.torch_compile, dynamic=False)
            self._modules[device] = module
        return self._modules[device]

    def create_runner(self, device: str, stream_index: int) -> Runner:
        if self._kind == "generator":
            from harness.backends.generation import SlotGenerator

            engine = self.model.torch_generator(device, self.precision, self.context.max_batch_size)
            generator = SlotGenerator(engine, device, name=f"generator-{device}-{stream_index}")
            self._generators.append(generator)
            return generator
        assert self._network is not None
        inputs, outputs = self._network.inputs, self._network.outputs
        if device == "cpu":
            return TorchRunner(self._module_for(device), self.precision, self.options.channels_last,
                               [s.name for s in inputs], [s.name for s in outputs], [s.dtype for s in outputs])
        import torch

        from harness.backends.torch_cuda import TorchCudaRunner

        samples = None
        if self.options.start_from_device:
            crop = {s.name: s.sequence_axis for s in inputs if s.sequence_axis is not None}
            samples = self._samples.setdefault(device, DeviceSamples(device, crop))
        compile_mode = self.options.torch_compile
        own_graphs = self.options.use_cuda_graphs and compile_mode not in ("reduce-overhead", "max-autotune")
        runner = TorchCudaRunner(
            self._module_for(device), device, getattr(torch, _DTYPES[self.precision]), self.options.channels_last,
            inputs, outputs, self.context.max_batch_size, own_graphs,
            static_shapes=compile_mode is not None, samples=samples)
        self._graph_sizes = runner.sizes
        return runner

    def info(self) -> BackendInfo:
        import torch

        versions = {"torch": str(torch.__version__)}
        if self._use_cuda:
            versions["cuda"] = str(torch.version.cuda)
        details: dict[str, Any] = {"runner": self._kind, "channels_last": self.options.channels_last,
                                   "threads": torch.get_num_threads()}
        if self._use_cuda:
            details.update({"torch_compile": self.options.torch_compile,
                            "cudnn_benchmark": self.options.cudnn_benchmark,
                            "use_cuda_graphs": self.options.use_cuda_graphs,
                            "start_from_device": self.options.start_from_device,
                            "static_batch_sizes": self._graph_sizes})
        return BackendInfo(self.name, self.devices(), self.precision, versions, list(self.notes), details)
