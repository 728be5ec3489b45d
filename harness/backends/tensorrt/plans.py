"""One model's TensorRT plans: the ONNX they are built from (fp16-typed for strongly typed flavours), the
optimization profiles, the INT8 calibration input, the cache key, and find-or-build per GPU kind.

Nothing here needs a GPU by itself: with TensorRT for RTX a plan is built for a GPU kind (name and
compute capability) ahead of time on any machine, which is how the tests build real engines.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends.base import BackendContext
from harness.backends.tensorrt.engine_cache import EngineCache, EngineKey, Lookup, calibration_cache_path
from harness.backends.tensorrt.flavour import Flavour
from harness.backends.tensorrt.profiles import engine_profiles, profile_key
from harness.common import file_sha256, say
from harness.errors import HarnessError
from models.base import ModelSpec, NetworkSpec

if TYPE_CHECKING:  # pragma: no cover
    from harness.backends.tensorrt.builder import BuildResult, CalibrationFactory


@dataclass(frozen=True)
class GpuKind:
    """A GPU model plans are built for; ``first_index`` is a CUDA device of that model (-1: none here)."""

    name: str
    compute_capability: str
    first_index: int = -1


@dataclass
class PlanRecord:
    """What happened to one plan in this process (recorded in the run record)."""

    gpu: str
    path: str
    status: str  # reused | built | rebuilt
    reason: str = ""
    build_s: float = 0.0
    bytes: int = 0


OnDevice = Callable[[GpuKind], AbstractContextManager[Any]]


class PlanMaker:
    def __init__(self, model: ModelSpec, context: BackendContext, options: Any, flavour: Flavour,
                 force_rebuild: bool = False, on_device: OnDevice | None = None) -> None:
        if model.network is None:
            raise HarnessError(f"model {model.name} declares no network (ModelSpec.network) to build an engine for")
        self.model = model
        self.network: NetworkSpec = model.network
        self.context = context
        self.options = options
        self.flavour = flavour
        self.notes: list[str] = []
        self.plans: list[PlanRecord] = []
        self.last_build: BuildResult | None = None
        self.calibration_source = ""
        self._force = force_rebuild
        self._on_device: OnDevice = on_device or (lambda _kind: nullcontext())
        self.onnx = model.onnx_model(context.cache_dir)
        self._has_qdq = onnx_has_qdq(self.onnx.path)
        self._check_precision()
        self.onnx_sha256 = file_sha256(self.onnx.path)
        if flavour.onnx_float_type(context.precision) == "float16":
            from harness.backends.tensorrt.typed_onnx import typed_fp16

            typed = typed_fp16(self.onnx, context.cache_dir, self.onnx_sha256)
            if typed.path != self.onnx.path:  # a converted copy (an fp16 source is used as it is)
                self.onnx_sha256 = file_sha256(typed.path)
            self.onnx = typed
        self.profiles = engine_profiles(self.network.inputs, self.onnx.input_names, context.max_batch_size,
                                        context.streams_per_device)
        self.cache = EngineCache(context.engine_dir)
        self._calibrators: list[Any] = []
        self._calibration: tuple[str, CalibrationFactory] | None = self._calibration_factory()

    def _check_precision(self) -> None:
        precision = self.context.precision
        problem, fix = self.flavour.precision_problem(precision, self._has_qdq)
        if problem:
            raise HarnessError(f"{precision} engines cannot be built here: {problem}", fix)
        if precision == "fp8" and not self._has_qdq:
            self.notes.append("fp8 asked for, but the ONNX model has no Q/DQ (quantize) nodes: TensorRT 10 runs "
                              "FP8 only where a quantized ONNX says so, so this engine runs fp16 kernels")
        if precision in ("int8", "fp8") and self._has_qdq and self.flavour.strongly_typed:
            self.notes.append(f"{self.flavour.label} builds the Q/DQ ONNX as typed: layers outside its quantized "
                              "regions run in the ONNX's own float type")

    def _calibration_factory(self) -> tuple[str, CalibrationFactory] | None:
        """(digest of the calibration input, factory) for int8 without Q/DQ in the ONNX, else None."""
        if self.context.precision != "int8" or self._has_qdq or not self.flavour.calibrates:
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
            import torch

            from harness.backends.tensorrt.builder import CalibrationPlan
            from harness.backends.tensorrt.calibrator import EntropyCalibrator

            device = torch.cuda.current_device()
            calibrator = EntropyCalibrator(dataset.load, batches, graph_to_model, graph_dtypes, cache_path, device)
            self._calibrators.append(calibrator)
            shapes = {graph: (batch, *specs[name].full_shape) for graph, name in graph_to_model.items()}
            return CalibrationPlan(calibrator, shapes)

        return digest, factory

    def key_for(self, kind: GpuKind) -> EngineKey:
        return EngineKey(self.model.name, self.onnx_sha256, self.context.precision, profile_key(self.profiles),
                         kind.name, kind.compute_capability, self.flavour.version, self.options.workspace_mib,
                         self.options.builder_optimization_level,
                         self._calibration[0] if self._calibration else "", self.flavour.name)

    def plan_for(self, kind: GpuKind) -> bytes:
        """The cached plan for this GPU kind, or a new one (built once across processes)."""
        key = self.key_for(kind)
        with self.cache.build_lock(key):
            found = self.cache.lookup(key)
            if found.usable and not self._force:
                data = found.plan.read_bytes()
                self.plans.append(PlanRecord(kind.name, str(found.plan), "reused", "", 0.0, len(data)))
                say(f"   engine: reusing {found.plan}")
                return data
            return self._build(kind, key, found)

    def rebuild(self, kind: GpuKind, why: str) -> bytes:
        """A plan TensorRT would not load: built again, saying why."""
        key = self.key_for(kind)
        with self.cache.build_lock(key):
            return self._build(kind, key, self.cache.lookup(key), why)

    def _build(self, kind: GpuKind, key: EngineKey, found: Lookup, why: str = "") -> bytes:
        from harness.backends.tensorrt.builder import BuildRequest, build_plan
        from harness.backends.tensorrt.trt_logger import get_logger

        reason = why or ("rebuild forced" if self._force and found.usable else found.reason)
        status = "built" if found.status == "miss" and not why else "rebuilt"
        if found.status in ("stale", "corrupt") or why:
            say(f"!! engine {found.plan.name}: {reason}: rebuilding")
            self.cache.discard(found.plan)
        say(f"   engine: building {self.context.precision} {self.flavour.label} plan for {kind.name} "
            f"(batch {self.context.max_batch_size}, {len(self.profiles)} profile(s)) from {self.onnx.path}"
            f" [{reason}]; this can take minutes")
        request = BuildRequest(self.onnx.path, self.network.inputs, self.network.outputs, self.onnx.input_names,
                               self.onnx.output_names, self.profiles, self.context.precision, kind.compute_capability,
                               self.options.workspace_mib, self.options.builder_optimization_level)
        with self._on_device(kind):
            result = build_plan(request, get_logger(), self._calibration[1] if self._calibration else None,
                                self.flavour)
        self.last_build = result
        self.notes.extend(n for n in result.notes if n not in self.notes)
        for calibrator in self._calibrators:
            done = "reused the calibration cache" if calibrator.used_cache else \
                f"calibrated on {calibrator.batches_fed} batches"
            say(f"   int8: {done} ({self.calibration_source}); cache {calibrator.cache_path}")
        self._calibrators.clear()
        extra = {"onnx": str(self.onnx.path), "onnx_source": self.onnx.source, "build_s": round(result.seconds, 2),
                 "calibration": self.calibration_source, "tensorrt": self.flavour.label}
        plan = self.cache.store(key, result.plan, extra)
        self.plans.append(PlanRecord(kind.name, str(plan), status, reason, round(result.seconds, 2), len(result.plan)))
        say(f"   engine: {plan} ({len(result.plan) / 2**20:.1f} MiB) built in {result.seconds:.1f} s")
        return result.plan


def onnx_has_qdq(path: Path) -> bool:
    """True when the ONNX graph carries QuantizeLinear nodes (explicit quantization: no calibrator)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node)
