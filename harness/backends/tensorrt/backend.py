"""TensorRTBackend: find or build the plan for each GPU model present (plans.py), load it on every GPU,
and hand out streams_per_device runners per GPU (each with its own execution context and profile)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.backends.base import Backend, BackendContext, BackendInfo, Runner
from harness.backends.tensorrt import flavour as flavours
from harness.backends.tensorrt import loader
from harness.backends.tensorrt.plans import GpuKind, PlanMaker
from harness.errors import HarnessError
from harness.options import option
from models.base import ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    import tensorrt as trt

    from harness.backends.device_samples import DeviceSamples


@dataclass(frozen=True)
class TensorRTOptions:
    flavour: str = option("auto", "which TensorRT: auto (full TensorRT when it imports, else TensorRT for RTX), "
                                  "tensorrt (10.x or 11.x) or tensorrt_rtx", choices=flavours.CHOICES)
    workspace_mib: int | None = option(None, "builder workspace limit in MiB (default: TensorRT's, all GPU memory)",
                                       minimum=1)
    builder_optimization_level: int | None = option(None, "builder optimization level 0..5 (default: TensorRT's, 3)",
                                                    minimum=0, maximum=5)
    use_cuda_graphs: bool = option(False, "one CUDA graph per batch size around execute_async_v3 (NVIDIA's "
                                          "use_graphs)")
    start_from_device: bool = option(False, "performance samples preloaded into each GPU's memory")


class TensorRTBackend(Backend):
    name = "tensorrt"
    Options = TensorRTOptions
    consumes = {"network": ("onnx",)}
    weights_kinds = ("onnx", "torch")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return loader.availability()

    @classmethod
    def gpu_usable(cls) -> bool:
        return not loader.gpu_problem(loader.gpu_compute_capabilities())

    def __init__(self, model: ModelSpec, context: BackendContext, options: Any = None,
                 force_rebuild: bool = False) -> None:
        super().__init__(model, context, options)
        if context.device == "cpu":
            raise HarnessError("TensorRT runs on NVIDIA GPUs only, and --device cpu was given",
                               "use --backend onnxruntime (or torch) on the CPU")
        self.flavour = loader.activate(self.options.flavour)
        self.trt = self.flavour.module
        import torch

        self._torch = torch
        self._gpus = [GpuKind(*self._gpu_identity(i), i) for i in range(torch.cuda.device_count())]
        self._check_gpus()
        self.maker = PlanMaker(model, context, self.options, self.flavour, force_rebuild,
                               lambda kind: torch.cuda.device(kind.first_index))
        self.network = self.maker.network
        self.onnx = self.maker.onnx
        self._plan_bytes: dict[tuple[str, str], bytes] = {}
        self._engines: dict[int, trt.ICudaEngine] = {}
        self._runtimes: dict[int, trt.Runtime] = {}  # a runtime must outlive the engines it deserialized
        self._samples: dict[int, DeviceSamples] = {}
        self._runner_stats: list[Any] = []
        for kind in self._kinds():
            self._plan_bytes[(kind.name, kind.compute_capability)] = self.maker.plan_for(kind)

    @property
    def notes(self) -> list[str]:
        return self.maker.notes

    @property
    def plans(self) -> list[Any]:
        return self.maker.plans

    # -- GPUs ---------------------------------------------------------------
    def _gpu_identity(self, index: int) -> tuple[str, str]:
        props = self._torch.cuda.get_device_properties(index)
        return str(props.name), f"{props.major}.{props.minor}"

    def _kinds(self) -> list[GpuKind]:
        """One entry per distinct GPU model (a plan is built once per model, loaded on each GPU)."""
        seen: dict[tuple[str, str], GpuKind] = {}
        for gpu in self._gpus:
            seen.setdefault((gpu.name, gpu.compute_capability), gpu)
        if not seen:
            raise HarnessError("TensorRT needs a CUDA GPU and torch sees none",
                               "check nvidia-smi and CUDA_VISIBLE_DEVICES")
        return list(seen.values())

    def _check_gpus(self) -> None:
        from harness.backends.tensorrt.diagnose import precision_problem

        for kind in self._kinds():
            if not self.flavour.runs_on(kind.compute_capability):
                raise HarnessError(f"{self.flavour.label} cannot run on {kind.name} (compute capability "
                                   f"{kind.compute_capability})",
                                   loader.gpu_problem([kind.compute_capability], self.flavour))
            problem = precision_problem(self.context.precision, kind.compute_capability)
            if problem:
                raise HarnessError(f"{self.context.precision} engines cannot be built for {kind.name}: {problem}",
                                   "set precision in the system config (configs/systems/) to one this GPU has")

    def engine_on(self, index: int) -> trt.ICudaEngine:
        """The plan deserialized on GPU ``index``; a plan TensorRT cannot load is rebuilt once."""
        if index in self._engines:
            return self._engines[index]
        from harness.backends.tensorrt.diagnose import deserialize_failure
        from harness.backends.tensorrt.trt_logger import get_logger

        kind = next(k for k in self._kinds() if (k.name, k.compute_capability) ==
                    (self._gpus[index].name, self._gpus[index].compute_capability))
        logger = get_logger()
        for attempt in range(2):
            data = self._plan_bytes[(kind.name, kind.compute_capability)]
            with self._torch.cuda.device(index):
                logger.take()
                runtime = self._runtimes.setdefault(index, self.trt.Runtime(logger))
                engine = runtime.deserialize_cuda_engine(data)
            if engine is not None:
                self._engines[index] = engine
                return engine
            why = deserialize_failure(self.maker.cache.plan_path(self.maker.key_for(kind)), logger.take())
            if attempt:
                raise HarnessError(why, "check that the TensorRT Python package matches the installed libraries")
            self._plan_bytes[(kind.name, kind.compute_capability)] = self.maker.rebuild(kind, why)
        raise AssertionError("unreachable")

    # -- Backend contract ---------------------------------------------------
    def devices(self) -> list[str]:
        return [f"cuda:{gpu.first_index}" for gpu in self._gpus]

    def create_runner(self, device: str, stream_index: int) -> Runner:
        from harness.backends.tensorrt.runner import TensorRTRunner

        index = int(device.split(":")[1])
        samples = None
        if self.options.start_from_device:
            from harness.backends.device_samples import DeviceSamples

            crop = {s.name: s.sequence_axis for s in self.network.inputs if s.sequence_axis is not None}
            samples = self._samples.setdefault(index, DeviceSamples(device, crop))
        runner = TensorRTRunner(self.engine_on(index), index, stream_index, self.network.inputs, self.network.outputs,
                                self.onnx.input_names, self.onnx.output_names, self.options.use_cuda_graphs, samples)
        self._runner_stats.append(runner.stats)
        if runner.stats.graph_note and runner.stats.graph_note not in self.notes:
            self.notes.append(runner.stats.graph_note)
        return runner

    def info(self) -> BackendInfo:
        torch, maker = self._torch, self.maker
        versions = {self.flavour.name: self.flavour.version, "torch": str(torch.__version__),
                    "cuda": str(torch.version.cuda)}
        graphs = sorted({s for stats in self._runner_stats for s in stats.graph_sizes})
        details = {
            "tensorrt": self.flavour.label, "tensorrt_module": self.flavour.name,
            "strongly_typed": self.flavour.strongly_typed,
            "engines": [vars(p) for p in maker.plans], "onnx": str(maker.onnx.path), "onnx_source": maker.onnx.source,
            "onnx_sha256": maker.onnx_sha256, "profiles_per_engine": len(maker.profiles),
            "max_batch_size": self.context.max_batch_size, "workspace_mib": self.options.workspace_mib,
            "builder_optimization_level": self.options.builder_optimization_level,
            "use_cuda_graphs": self.options.use_cuda_graphs, "cuda_graph_batch_sizes": graphs,
            "start_from_device": self.options.start_from_device, "calibration": maker.calibration_source,
        }
        return BackendInfo(self.name, self.devices(), self.context.precision, versions, list(self.notes), details)
