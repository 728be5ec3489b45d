"""ONNX -> serialized TensorRT plan: parse, keep the model's outputs, set profiles, precision, limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tensorrt as trt

from harness.backends.tensorrt.diagnose import PRECISION_FLAGS, ParserProblem, build_failure, parser_failure
from harness.backends.tensorrt.profiles import InputProfile, check_network_input, dtype_name
from harness.backends.tensorrt.trt_logger import CollectingLogger
from harness.errors import HarnessError

_FLAGS = {"FP16": trt.BuilderFlag.FP16, "BF16": trt.BuilderFlag.BF16, "INT8": trt.BuilderFlag.INT8,
          "FP8": trt.BuilderFlag.FP8}


@dataclass(frozen=True)
class CalibrationPlan:
    """What INT8 calibration needs: a calibrator and the one fixed shape per input it feeds."""

    calibrator: trt.IInt8Calibrator
    shapes: dict[str, tuple[int, ...]]  # graph input name -> calibration batch shape


@dataclass(frozen=True)
class BuildRequest:
    onnx_path: Path
    output_names: tuple[str, ...]  # graph names of the outputs the model reads; others are unmarked
    profiles: Sequence[Sequence[InputProfile]]
    precision: str
    workspace_mib: int | None = None
    builder_optimization_level: int | None = None


@dataclass
class BuildResult:
    plan: bytes
    seconds: float
    notes: list[str] = field(default_factory=list)


def _dims(shape: Sequence[int]) -> trt.Dims:
    return trt.Dims(list(shape))


def _as_tuple(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


def parse_onnx(builder: trt.Builder, onnx_path: Path,
               logger: CollectingLogger) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    """The network of an ONNX file; parser errors become a HarnessError naming the nodes."""
    if not onnx_path.is_file():
        raise HarnessError(f"ONNX model {onnx_path} not found", "delete build/cache/onnx to re-export it")
    network = builder.create_network(0)  # TensorRT 10 networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        problems = []
        for i in range(parser.num_errors):
            error: trt.ParserError = parser.get_error(i)
            problems.append(ParserProblem(error.node(), error.node_name(), error.node_operator(), error.desc(),
                                          str(error.code())))
        raise parser_failure(onnx_path, problems)
    return network, parser


def network_inputs(network: trt.INetworkDefinition) -> dict[str, tuple[tuple[int, ...], str]]:
    """Graph input name -> (shape with -1 for dynamic axes, numpy dtype name)."""
    found = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
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


def build_plan(request: BuildRequest, logger: CollectingLogger,
               calibration_factory: CalibrationFactory | None = None) -> BuildResult:
    started = time.monotonic()
    notes: list[str] = []
    logger.take()
    builder = trt.Builder(logger)
    network, _parser = parse_onnx(builder, request.onnx_path, logger)  # the parser must outlive the build
    inputs = network_inputs(network)
    first = {p.graph_name: p for p in request.profiles[0]}
    unknown = sorted(set(inputs) - set(first))
    if unknown:
        raise HarnessError(f"the ONNX model has inputs the model does not feed: {', '.join(unknown)}",
                           "the model's onnx_model() input map must cover every graph input")
    for name, (shape, _dtype) in inputs.items():
        check_network_input(name, shape, first[name])
    dropped = keep_outputs(network, request.output_names)
    if dropped:
        notes.append(f"unused ONNX outputs left out of the engine: {', '.join(dropped)}")

    config = builder.create_builder_config()
    if request.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_mib << 20)
    if request.builder_optimization_level is not None:
        config.builder_optimization_level = request.builder_optimization_level
    for flag in PRECISION_FLAGS[request.precision]:
        config.set_flag(_FLAGS[flag])
    for profile_shapes in request.profiles:
        profile = builder.create_optimization_profile()
        for p in profile_shapes:
            profile.set_shape(p.graph_name, _dims(p.min), _dims(p.opt), _dims(p.max))
        config.add_optimization_profile(profile)
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
        raise build_failure(messages, max_batch, request.workspace_mib, request.precision)
    plan = bytes(memoryview(serialized))
    return BuildResult(plan, time.monotonic() - started, notes)

