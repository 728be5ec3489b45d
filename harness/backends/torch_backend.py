"""PyTorch backend: the model's torch module on the CPU or on every visible CUDA GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.backends.base import Backend, BackendInfo, Runner
from harness.errors import HarnessError

if TYPE_CHECKING:  # pragma: no cover
    import torch

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class TorchRunner(Runner):
    def __init__(self, module: "torch.nn.Module", device: str, precision: str, channels_last: bool,
                 input_names: list[str], output_names: list[str], output_dtypes: list[str]) -> None:
        import torch

        self._torch = torch
        self.module = module
        self.device = device
        self._device = torch.device(device)
        self._float_dtype = getattr(torch, _DTYPES[precision])
        self._channels_last = channels_last
        self._inputs = input_names
        self._outputs = output_names
        self._output_dtypes = [getattr(torch, d) for d in output_dtypes]
        self._stream = torch.cuda.Stream(self._device) if self._device.type == "cuda" else None

    def _prepare(self, array: np.ndarray) -> "torch.Tensor":
        torch = self._torch
        tensor = torch.from_numpy(array)
        if self._stream is not None:
            tensor = tensor.to(self._device)
        if tensor.is_floating_point():
            tensor = tensor.to(self._float_dtype)
        if self._channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            if self._stream is not None:
                with torch.cuda.stream(self._stream):
                    result = self._run(inputs)
                self._stream.synchronize()
            else:
                result = self._run(inputs)
        return {name: tensor.numpy() for name, tensor in result.items()}

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, "torch.Tensor"]:
        args = [self._prepare(inputs[name]) for name in self._inputs]
        out = self.module(*args)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return {name: t.to(dtype=dt).to("cpu", non_blocking=False)
                for name, t, dt in zip(self._outputs, out, self._output_dtypes)}


class TorchBackend(Backend):
    name = "torch"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        try:
            import torch  # noqa: F401
        except ImportError:
            return False, "torch is not installed (pip install torch)"
        return True, ""

    def __init__(self, model: Any, options: Any) -> None:
        super().__init__(model, options)
        import torch

        wanted = options.device
        if wanted == "cuda" and not torch.cuda.is_available():
            raise HarnessError("a CUDA GPU was asked for, but torch sees none",
                               "check nvidia-smi and CUDA_VISIBLE_DEVICES, or use --device cpu")
        self._use_cuda = wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
        self.precision = options.precision
        self.notes: list[str] = []
        if self.precision not in _DTYPES:
            fallback = "fp16" if self._use_cuda else "fp32"
            self.notes.append(f"torch backend has no {self.precision} path; running {fallback}")
            self.precision = fallback
        if not self._use_cuda and self.precision != "fp32":
            self.notes.append(f"{self.precision} on the CPU is slow or unsupported in torch; running fp32")
            self.precision = "fp32"
        self._modules: dict[str, "torch.nn.Module"] = {}
        self._base = model.torch_module()

    def devices(self) -> list[str]:
        if not self._use_cuda:
            return ["cpu"]
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def _module_for(self, device: str) -> "torch.nn.Module":
        import copy

        import torch

        if device not in self._modules:
            module = self._base if device == "cpu" else copy.deepcopy(self._base)
            module = module.to(torch.device(device))
            if self.precision != "fp32":
                module = module.to(getattr(torch, _DTYPES[self.precision]))
            if self.options.channels_last:
                module = module.to(memory_format=torch.channels_last)
            self._modules[device] = module.eval()
        return self._modules[device]

    def create_runner(self, device: str, stream_index: int) -> Runner:
        return TorchRunner(
            self._module_for(device), device, self.precision, self.options.channels_last,
            [s.name for s in self.model.inputs], [s.name for s in self.model.outputs],
            [s.dtype for s in self.model.outputs],
        )

    def info(self) -> BackendInfo:
        import torch

        versions = {"torch": str(torch.__version__)}
        if self._use_cuda:
            versions["cuda"] = str(torch.version.cuda)
        return BackendInfo(self.name, self.devices(), self.precision, versions, list(self.notes),
                           {"channels_last": self.options.channels_last,
                            "threads": torch.get_num_threads()})
