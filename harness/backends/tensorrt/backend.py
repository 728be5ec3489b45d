"""TensorRTBackend: find or build the plan for each GPU model present, load it on every GPU, and hand
out streams_per_device runners per GPU (each with its own execution context and profile)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends.base import Backend, BackendContext, BackendInfo, Runner
from harness.backends.tensorrt import loader
from harness.backends.tensorrt.engine_cache import (
    EngineCache,
    EngineKey,
    Lookup,
    calibration_cache_path,
)
from harness.backends.tensorrt.profiles import engine_profiles, profile_key
from harness.common import file_sha256, say
from harness.errors import HarnessError
from harness.options import option
from models.base import ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    import tensorrt as trt

    from harness.backends.device_samples import DeviceSamples
    from harness.backends.tensorrt.builder import CalibrationFactory


@dataclass(frozen=True)
class TensorRTOptions:
    workspace_mib: int | None = option(None, "builder workspace limit in MiB (default: TensorRT's, all GPU memory)",
                                       minimum=1)
    builder_optimization_level: int | None = option(None, "builder optimization level 0..5 (default: TensorRT's, 3)",
                                                    minimum=0, maximum=5)
    use_cuda_graphs: bool = option(False, "one CUDA graph per batch size around execute_async_v3 (NVIDIA's "
                                          "use_graphs)")
    start_from_device: bool = option(False, "performance samples preloaded into each GPU's memory")


@dataclass(frozen=True)
class GpuKind:
    name: str
    compute_capability: str
    first_index: int


@dataclass
class PlanRecord:
    """What happened to one plan in this process (recorded in the run record)."""

    gpu: str
    path: str
    status: str  # reused | built | rebuilt
    reason: str = ""
    build_s: float = 0.0
    bytes: int = 0


class TensorRTBackend(Backend):
    name = "tensorrt"
    Options = TensorRTOptions
    consumes = {"network": ("onnx",)}
    weights_kinds = ("onnx", "torch")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return loader.availability()

    def __init__(self, model: ModelSpec, context: BackendContext, options: Any = None,
                 force_rebuild: bool = False) -> None:
        super().__init__(model, context, options)
        self.trt = loader.import_tensorrt()
        import torch

        if model.network is None:
            raise HarnessError(f"model {model.name} declares no network (ModelSpec.network) to build an engine for")
        self.network = model.network
        if context.device == "cpu":
            raise HarnessError("TensorRT runs on NVIDIA GPUs only, and --device cpu was given",
                               "use --backend onnxruntime (or torch) on the CPU")
        self._torch = torch
        self.notes: list[str] = []
        self.plans: list[PlanRecord] = []
        self.calibration_source = ""
        self._force = force_rebuild
        self._gpus = [GpuKind(*self._gpu_identity(i), i) for i in range(torch.cuda.device_count())]
        self.onnx = model.onnx_model(context.cache_dir)
        self.onnx_sha256 = file_sha256(self.onnx.path)
        self._has_qdq = _onnx_has_qdq(self.onnx.path)
        self._calibrators: list[Any] = []
        self.profiles = engine_profiles(self.network.inputs, self.onnx.input_names, context.max_batch_size,
                                        context.streams_per_device)
        self.cache = EngineCache(context.engine_dir)
        self._check_precision()
        self._calibration: tuple[str, CalibrationFactory] | None = self._calibration_factory()
        self._plan_bytes: dict[tuple[str, str], bytes] = {}
        self._engines: dict[int, trt.ICudaEngine] = {}
        self._runtimes: dict[int, trt.Runtime] = {}  # a runtime must outlive the engines it deserialized
        self._samples: dict[int, DeviceSamples] = {}
        self._runner_stats: list[Any] = []
        for kind in self._kinds():
            self._plan_bytes[(kind.name, kind.compute_capability)] = self._plan_for(kind)

    # -- GPUs and precision -------------------------------------------------
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

    def _check_precision(self) -> None:
        from harness.backends.tensorrt.diagnose import precision_problem
        from harness.backends.tensorrt.trt_logger import get_logger

        builder = self.trt.Builder(get_logger())
        for kind in self._kinds():
            problem = precision_problem(self.context.precision, kind.compute_capability,
                                        builder.platform_has_fast_fp16, builder.platform_has_fast_int8)
            if problem:
                raise HarnessError(f"{self.context.precision} engines cannot be built for {kind.name}: {problem}",
                                   "set precision in the system config (configs/systems/) to one this GPU has")
        if self.context.precision == "fp8" and not self._has_qdq:
            self.notes.append("fp8 asked for, but the ONNX model has no Q/DQ (quantize) nodes: TensorRT 10 runs "
                              "FP8 only where a quantized ONNX says so, so this engine runs fp16 kernels")

    def _calibration_factory(self) -> tuple[str, CalibrationFactory] | None:
        """(digest of the calibration input, factory) for int8 without Q/DQ in the ONNX, else None."""
        if self.context.precision != "int8" or self._has_qdq:
            return None
        from harness.backends.tensorrt import calibration as cal

        dataset = self.context.calibration
        if dataset is None:
            raise HarnessError("an int8 engine needs calibration data and no dataset was given",
                               "build through `python -m harness run` or `engines`, which open the dataset")
        chosen = cal.calibration_set(self.model, dataset)
        self.notes.extend(chosen.notes)
        self.calibration_source = chosen.source
        batch = cal.calibration_batch_size(len(chosen.indices))
        batches = cal.calibration_batches(chosen.indices, batch)
        digest = cal.calibration_digest(chosen, dataset, batch)
        cache_path = calibration_cache_path(self.context.engine_dir, self.model.name, self.onnx_sha256, digest)
        graph_to_model = {graph: name for name, graph in self.onnx.input_names.items()}
        specs = {spec.name: spec for spec in self.network.inputs}

        def factory(graph_dtypes: dict[str, str]) -> Any:
            from harness.backends.tensorrt.builder import CalibrationPlan
            from harness.backends.tensorrt.calibrator import EntropyCalibrator

            device = self._torch.cuda.current_device()
            calibrator = EntropyCalibrator(dataset.load, batches, graph_to_model, graph_dtypes, cache_path, device)
            self._calibrators.append(calibrator)
            shapes = {graph: (batch, *specs[name].full_shape) for graph, name in graph_to_model.items()}
            return CalibrationPlan(calibrator, shapes)

        return digest, factory

    # -- plans --------------------------------------------------------------
    def key_for(self, kind: GpuKind) -> EngineKey:
        return EngineKey(self.model.name, self.onnx_sha256, self.context.precision, profile_key(self.profiles),
                         kind.name, kind.compute_capability, str(self.trt.__version__), self.options.workspace_mib,
                         self.options.builder_optimization_level,
                         self._calibration[0] if self._calibration else "")

    def _plan_for(self, kind: GpuKind) -> bytes:
        key = self.key_for(kind)
        with self.cache.build_lock(key):
            found = self.cache.lookup(key)
            if found.usable and not self._force:
                data = found.plan.read_bytes()
                self.plans.append(PlanRecord(kind.name, str(found.plan), "reused", "", 0.0, len(data)))
                say(f"   engine: reusing {found.plan}")
                return data
            return self._build(kind, key, found)

    def _build(self, kind: GpuKind, key: EngineKey, found: Lookup, why: str = "") -> bytes:
        from harness.backends.tensorrt.builder import BuildRequest, build_plan
        from harness.backends.tensorrt.trt_logger import get_logger

        reason = why or ("rebuild forced" if self._force and found.usable else found.reason)
        status = "built" if found.status == "miss" and not why else "rebuilt"
        if found.status in ("stale", "corrupt") or why:
            say(f"!! engine {found.plan.name}: {reason}: rebuilding")
            self.cache.discard(found.plan)
        say(f"   engine: building {self.context.precision} TensorRT {self.trt.__version__} plan for {kind.name} "
            f"(batch {self.context.max_batch_size}, {len(self.profiles)} profile(s)) from {self.onnx.path}"
            f" [{reason}]; this can take minutes")
        request = BuildRequest(self.onnx.path, tuple(self.onnx.output_names[s.name] for s in self.network.outputs),
                               self.profiles, self.context.precision, self.options.workspace_mib,
                               self.options.builder_optimization_level)
        with self._torch.cuda.device(kind.first_index):
            result = build_plan(request, get_logger(), self._calibration[1] if self._calibration else None)
        self.notes.extend(result.notes)
        for calibrator in self._calibrators:
            done = "reused the calibration cache" if calibrator.used_cache else \
                f"calibrated on {calibrator.batches_fed} batches"
            say(f"   int8: {done} ({self.calibration_source}); cache {calibrator.cache_path}")
        self._calibrators.clear()
        extra = {"onnx": str(self.onnx.path), "onnx_source": self.onnx.source, "build_s": round(result.seconds, 2),
                 "calibration": self.calibration_source}
        plan = self.cache.store(key, result.plan, extra)
        self.plans.append(PlanRecord(kind.name, str(plan), status, reason, round(result.seconds, 2), len(result.plan)))
        say(f"   engine: {plan} ({len(result.plan) / 2**20:.1f} MiB) built in {result.seconds:.1f} s")
        return result.plan

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
            key = self.key_for(kind)
            why = deserialize_failure(self.cache.plan_path(key), logger.take())
            if attempt:
                raise HarnessError(why, "check that the TensorRT Python package matches the installed libraries")
            self._plan_bytes[(kind.name, kind.compute_capability)] = self._build(
                kind, key, self.cache.lookup(key), why)
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
        torch = self._torch
        versions = {"tensorrt": str(self.trt.__version__), "torch": str(torch.__version__),
                    "cuda": str(torch.version.cuda)}
        graphs = sorted({s for stats in self._runner_stats for s in stats.graph_sizes})
        details = {
            "engines": [vars(p) for p in self.plans], "onnx": str(self.onnx.path), "onnx_source": self.onnx.source,
            "onnx_sha256": self.onnx_sha256, "profiles_per_engine": len(self.profiles),
            "max_batch_size": self.context.max_batch_size, "workspace_mib": self.options.workspace_mib,
            "builder_optimization_level": self.options.builder_optimization_level,
            "use_cuda_graphs": self.options.use_cuda_graphs, "cuda_graph_batch_sizes": graphs,
            "start_from_device": self.options.start_from_device, "calibration": self.calibration_source,
        }
        return BackendInfo(self.name, self.devices(), self.context.precision, versions, list(self.notes), details)


def _onnx_has_qdq(path: Path) -> bool:
    """True when the ONNX graph carries QuantizeLinear nodes (explicit quantization: no calibrator)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node)

