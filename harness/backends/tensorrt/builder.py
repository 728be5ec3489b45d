"""ONNX -> serialized TensorRT plan: parse, check the I/O against the model's network spec, keep the
model's outputs, set profiles, precision (flags or the ONNX's own types, per flavour), limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.tensorrt.diagnose import ParserProblem, build_failure, parser_failure
from harness.backends.tensorrt.flavour import Flavour, active
from harness.backends.tensorrt.profiles import InputProfile, TensorShapes, check_network_input, dtype_name, io_problems
from harness.backends.tensorrt.trt_logger import CollectingLogger
from harness.errors import HarnessError
from models.specs import TensorSpec

if TYPE_CHECKING:  # checked against TensorRT 10's stubs; at run time, the process's flavour
    import tensorrt as trt
else:
    trt = active().module


@dataclass(frozen=True)
class CalibrationPlan:
    """What INT8 calibration needs: a calibrator and the one fixed shape per input it feeds."""

    calibrator: trt.IInt8Calibrator
    shapes: dict[str, tuple[int, ...]]  # graph input name -> calibration batch shape


@dataclass(frozen=True)
class BuildRequest:
    onnx_path: Path
    inputs: tuple[TensorSpec, ...]  # the model's network spec, checked against the parsed graph
    outputs: tuple[TensorSpec, ...]
    input_names: Mapping[str, str]  # model name -> graph name
    output_names: Mapping[str, str]  # graph outputs the model does not read are unmarked
    profiles: Sequence[Sequence[InputProfile]]
    precision: str
    compute_capability: str  # the GPU the plan is for (TensorRT for RTX builds for it without one)
    workspace_mib: int | None = None
    builder_optimization_level: int | None = None


@dataclass
class BuildResult:
    plan: bytes
    seconds: float
    notes: list[str] = field(default_factory=list)
    # The engine's I/O as built: graph name -> (shape, -1 = dynamic; numpy dtype).
    inputs: TensorShapes = field(default_factory=dict)
    outputs: TensorShapes = field(default_factory=dict)


def _dims(shape: Sequence[int]) -> trt.Dims:
    return trt.Dims(list(shape))


def _as_tuple(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


def parse_onnx(builder: trt.Builder, onnx_path: Path,
               logger: CollectingLogger) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    """The network of an ONNX file; parser errors become a HarnessError naming the nodes."""
    if not onnx_path.is_file():
        raise HarnessError(f"ONNX model {onnx_path} not found", "delete build/cache/onnx to re-export it")
    # Explicit batch always; TensorRT 11 and TensorRT for RTX networks are strongly typed by default.
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        problems = []
        for i in range(parser.num_errors):
            error: trt.ParserError = parser.get_error(i)
            problems.append(ParserProblem(error.node(), error.node_name(), error.node_operator(), error.desc(),
                                          str(error.code())))
        raise parser_failure(onnx_path, problems)
    return network, parser


def network_inputs(network: trt.INetworkDefinition) -> TensorShapes:
    """Graph input name -> (shape with -1 for dynamic axes, numpy dtype name)."""
    found = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        found[tensor.name] = (_as_tuple(tensor.shape), dtype_name(tensor.dtype.name))
    return found


def network_outputs(network: trt.INetworkDefinition) -> TensorShapes:
    found = {}
    for i in range(network.num_outputs):
        tensor = network.get_output(i)
        found[tensor.name] = (_as_tuple(tensor.shape), dtype_name(tensor.dtype.name))
    return found


def keep_outputs(network: trt.INetworkDefinition, wanted: Sequence[str]) -> list[str]:
    """Unmark the graph outputs the model does not read (e.g. softmax next to argmax); returns them."""
    present = [network.get_output(i).name for i in range(network.num_outputs)]
    missing = [name for name in wanted if name not in present]
    if missing:
        raise HarnessError(f"the ONNX model has no output {', '.join(missing)} (it has {', '.join(present)})",
                           "the model's onnx_model() output map must name graph outputs")
    dropped = []
    for i in reversed(range(network.num_outputs)):
        tensor = network.get_output(i)
        if tensor.name not in wanted:
            network.unmark_output(tensor)
            dropped.append(tensor.name)
    return dropped


# Given the engine's input dtypes (graph name -> numpy dtype), the calibrator and its shapes.
CalibrationFactory = Callable[[dict[str, str]], CalibrationPlan]


def _check_io(request: BuildRequest, inputs: TensorShapes, outputs: TensorShapes, notes: list[str]) -> None:
    first = {p.graph_name: p for p in request.profiles[0]}
    unknown = sorted(set(inputs) - set(first))
    if unknown:
        raise HarnessError(f"the ONNX model has inputs the model does not feed: {', '.join(unknown)}",
                           "the model's onnx_model() input map must cover every graph input")
    for name, (shape, _dtype) in inputs.items():
        check_network_input(name, shape, first[name])
    shapes, dtypes = io_problems(inputs, request.inputs, request.input_names, "input")
    out_shapes, out_dtypes = io_problems(outputs, request.outputs, request.output_names, "output")
    if shapes or out_shapes:
        raise HarnessError("the ONNX model's I/O differs from the model's network spec:\n  " +
                           "\n  ".join(shapes + out_shapes), "re-export the ONNX model (delete it under build/cache)")
    if dtypes or out_dtypes:
        notes.append("engine I/O types differ from the network spec (converted on the host): " +
                     "; ".join(dtypes + out_dtypes))


def build_plan(request: BuildRequest, logger: CollectingLogger, calibration_factory: CalibrationFactory | None = None,
               flavour: Flavour | None = None) -> BuildResult:
    flavour = flavour or active()
    started = time.monotonic()
    notes: list[str] = []
    logger.take()
    builder = trt.Builder(logger)
    network, _parser = parse_onnx(builder, request.onnx_path, logger)  # the parser must outlive the build
    dropped = keep_outputs(network, [request.output_names[s.name] for s in request.outputs])
    if dropped:
        notes.append(f"unused ONNX outputs left out of the engine: {', '.join(dropped)}")
    inputs, outputs = network_inputs(network), network_outputs(network)
    _check_io(request, inputs, outputs, notes)

    config = builder.create_builder_config()
    if request.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_mib << 20)
    if request.builder_optimization_level is not None:
        config.builder_optimization_level = request.builder_optimization_level
    for flag in flavour.precision_flags(request.precision):
        config.set_flag(getattr(trt.BuilderFlag, flag))
    flavour.target(config, request.compute_capability)
    for profile_shapes in request.profiles:
        profile = builder.create_optimization_profile()
        for p in profile_shapes:
            profile.set_shape(p.graph_name, _dims(p.min), _dims(p.opt), _dims(p.max))
        config.add_optimization_profile(profile)
    if calibration_factory is not None and not flavour.calibrates:
        raise HarnessError(f"{flavour.label} has no INT8 calibrators", "pass a Q/DQ ONNX with --weights")
    calibration = calibration_factory({n: dtype for n, (_s, dtype) in inputs.items()}) if calibration_factory else None
    if calibration is not None:
        cal_profile = builder.create_optimization_profile()
        for name, shape in calibration.shapes.items():
            cal_profile.set_shape(name, _dims(shape), _dims(shape), _dims(shape))
        config.int8_calibrator = calibration.calibrator
        if not config.set_calibration_profile(cal_profile):
            raise HarnessError("TensorRT rejected the calibration profile "
                               f"{calibration.shapes}", "report this with the model name and TensorRT version")

    serialized = builder.build_serialized_network(network, config)
    messages = logger.take()
    if serialized is None:
        max_batch = max(p.max[0] for p in request.profiles[0])
        raise build_failure(messages, max_batch, request.workspace_mib, request.precision,
                            onnx_operators(request.onnx_path), flavour.label)
    plan = bytes(memoryview(serialized))
    return BuildResult(plan, time.monotonic() - started, notes, inputs, outputs)


def onnx_operators(path: Path) -> dict[str, str]:
    """ONNX node name -> operator, to name what TensorRT refused (its layers carry the node names)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # only used to word an error: never hide the build failure behind another
        return {}
    return {node.name: node.op_type for node in graph.node}
