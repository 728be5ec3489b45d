"""Real TensorRT engines, built on the CPU: TensorRT for RTX's builder and ONNX parser need no GPU.

Each entry of BUILDS goes through the backend's own code (plans.PlanMaker: the model's ONNX export,
the fp16-typed conversion, optimization profiles from the network spec, the builder, the engine cache)
for an RTX-class GPU kind (L40S, SM89), then checks the engine's I/O against the model's network spec
and re-opens the plan through its cache key. Loading and running an engine needs a GPU: that part is
tests/test_tensorrt_gpu.py and `make selftest-gpu`.

A model with a network and an ONNX artefact joins by being listed in BUILDS (one line); an ONNX node
TensorRT refuses is listed as ``refused`` and the test checks that the error names it and the way out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import options as opt
from harness.backends.base import BackendContext
from harness.backends.tensorrt import flavour as flavours
from harness.backends.tensorrt.backend import TensorRTOptions
from harness.backends.tensorrt.plans import GpuKind, PlanMaker
from harness.backends.tensorrt.typed_onnx import is_fp16_typed
from harness.errors import HarnessError
from models import get_model_class, model_names
from models.base import ModelSpec, NetworkSpec, OnnxModel, TensorSpec
from models.retinanet import RetinaNet

RTX, WHY = flavours.find("tensorrt_rtx")
pytestmark = [pytest.mark.tensorrt,
              pytest.mark.skipif(RTX is None, reason=f"needs TensorRT for RTX (requirements-dev.txt): {WHY}")]

TARGET = GpuKind("NVIDIA L40S", "8.9")  # an Ada GPU: TensorRT for RTX builds for SM89 without one


def small_retinanet(image_size: int, classes: int) -> type[ModelSpec]:
    """RetinaNet's graph (its TopKs, NonMaxSuppression and ScatterND) from the model folder's own network
    and export code, at a smaller image and class count: seconds to export instead of the full model's 15."""
    assert RetinaNet.network is not None
    sample = (TensorSpec("images", (3, image_size, image_size), "uint8"),)

    class SmallRetinaNet(RetinaNet):
        sample_inputs = sample
        network = NetworkSpec(inputs=sample, outputs=RetinaNet.network.outputs)

        def onnx_model(self, cache_dir: Path) -> OnnxModel:
            import torch

            from models.retinanet.network import OUTPUT_NAMES, RetinaNetDetector, export_onnx

            path = cache_dir / "onnx" / f"retinanet-{image_size}px-{classes}classes.onnx"
            if not path.is_file():
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed)
                    module = RetinaNetDetector(num_classes=classes, image_size=image_size).eval()
                export_onnx(module, path, image_size=image_size)
            return OnnxModel(path, {"images": "images"}, {n: n for n in OUTPUT_NAMES}, "reduced RetinaNet (tests)")

    return SmallRetinaNet


@dataclass(frozen=True)
class Build:
    model: str  # the registered model
    precision: str = "fp32"
    model_options: tuple[tuple[str, Any], ...] = ()
    max_batch: int = 4
    streams: int = 1
    refused: str = ""  # the ONNX node TensorRT refuses to build
    layers: tuple[str, ...] = ()  # TensorRT layer types the parsed network must hold
    reduced: type[ModelSpec] | None = None  # a smaller stand-in built from the model folder's code


BUILDS = {
    "resnet50-fp32": Build("resnet50"),
    "resnet50-fp16": Build("resnet50", "fp16"),  # strongly typed: from the fp16-typed ONNX
    # NonMaxSuppression and ScatterND parse. The sort of all 5 x 1000 candidates (any image size with the
    # 264 classes; the full 800x800 model's ONNX refuses the same node) is a TopK of 5000 > 3840.
    "retinanet-fp32": Build("retinanet", refused="/TopK_5", layers=("NMS", "SCATTER", "TOPK"),
                            reduced=small_retinanet(128, 264)),
    # With 4 classes every TopK is within the limit: TensorRT for RTX then refuses the NMS, having no kernel.
    "retinanet-4classes-fp32": Build("retinanet", refused="/NonMaxSuppression", layers=("NMS", "SCATTER"),
                                     reduced=small_retinanet(128, 4)),
    # Dynamic sequence length: every profile spans 1..384 tokens; two streams, two profiles.
    "bert-fp32": Build("bert", model_options=(("network", "reduced"),), max_batch=8, streams=2),
    "bert-fp16": Build("bert", "fp16", model_options=(("network", "reduced"),)),
    # A 3-D network: the 1x128^3 window with a dynamic batch of windows (the reduced width keeps it seconds).
    "3d-unet-fp32": Build("3d-unet", model_options=(("network_width", "reduced"),), max_batch=2),
}


@pytest.fixture(scope="module")
def rtx() -> flavours.Flavour:
    current = flavours.current()
    if current is not None and current.name != "tensorrt_rtx":
        pytest.skip(f"this test process already uses {current.label}")
    return flavours.activate("tensorrt_rtx")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trt-build")  # ONNX exports are shared by the builds of one model


def _model(build: Build) -> ModelSpec:
    cls = build.reduced or get_model_class(build.model)
    return cls(options=opt.build(cls.options, dict(build.model_options), "test"))


def _maker(build: Build, root: Path, flavour: flavours.Flavour) -> PlanMaker:
    context = BackendContext(precision=build.precision, max_batch_size=build.max_batch,
                             streams_per_device=build.streams, cache_dir=root / "cache", engine_dir=root / "engines")
    return PlanMaker(_model(build), context, TensorRTOptions(flavour="tensorrt_rtx"), flavour)


def _layer_types(flavour: flavours.Flavour, onnx_path: Path) -> set[str]:
    from harness.backends.tensorrt.builder import parse_onnx
    from harness.backends.tensorrt.trt_logger import get_logger

    builder = flavour.module.Builder(get_logger())
    network, _parser = parse_onnx(builder, onnx_path, get_logger())
    return {network.get_layer(i).type.name for i in range(network.num_layers)}


def _spec_io(specs: tuple[TensorSpec, ...], names: dict[str, str]) -> dict[str, tuple[tuple[int, ...], str]]:
    """What the engine's I/O must be: batch and sequence axes dynamic, the rest as declared."""
    return {names[s.name]: ((-1, *s.shape), s.dtype) for s in specs}


@pytest.mark.parametrize("case", sorted(BUILDS))
def test_engine_builds_from_the_models_onnx(case: str, rtx: flavours.Flavour, workspace: Path) -> None:
    build = BUILDS[case]
    maker = _maker(build, workspace, rtx)
    network = maker.network
    if build.precision == "fp16":
        assert "-fp16-" in maker.onnx.path.name and is_fp16_typed(maker.onnx.path)
        assert maker.onnx.path.parent == workspace / "cache" / "onnx"  # cached beside the exports
    if build.layers:
        assert set(build.layers) <= _layer_types(rtx, maker.onnx.path)
    if build.refused:
        with pytest.raises(HarnessError) as caught:
            maker.plan_for(TARGET)
        assert f"refuses to build ONNX node '{build.refused}'" in caught.value.message
        assert caught.value.message.startswith(rtx.label)
        assert "--backend torch or onnxruntime" in str(caught.value.fix)
        return
    started = time.monotonic()
    plan = maker.plan_for(TARGET)
    print(f"{case}: {len(plan) / 2**20:.1f} MiB plan built in {time.monotonic() - started:.1f} s")
    result = maker.last_build
    assert result is not None and result.plan == plan and len(plan) > 2**20
    assert result.inputs == _spec_io(network.inputs, maker.onnx.input_names)
    assert result.outputs == _spec_io(network.outputs, maker.onnx.output_names)
    assert len(maker.profiles) == build.streams
    for profile in maker.profiles:
        for entry, spec in zip(profile, network.inputs):
            assert entry.min[0] == 1 and entry.max[0] == build.max_batch == entry.opt[0]
            if spec.sequence_axis is not None:
                axis = spec.sequence_axis
                assert spec.max_shape is not None
                assert entry.min[axis] == 1 and entry.max[axis] == spec.max_shape[axis - 1]

    record = maker.plans[-1]
    assert record.status == "built" and record.bytes == len(plan)
    key = maker.key_for(TARGET)
    assert key.flavour == "tensorrt_rtx" and key.tensorrt_version == rtx.version
    found = maker.cache.lookup(key)
    assert found.usable and found.plan == Path(record.path) and found.meta["tensorrt"] == rtx.label
    assert Path(record.path).parts[-2] == f"rtx{rtx.version}"
    again = _maker(build, workspace, rtx)  # a later run: same ONNX, profiles and target
    assert again.plan_for(TARGET) == plan and again.plans[-1].status == "reused"


def test_a_damaged_plan_is_rebuilt(rtx: flavours.Flavour, workspace: Path) -> None:
    build = BUILDS["resnet50-fp32"]
    maker = _maker(build, workspace, rtx)
    plan = maker.plan_for(TARGET)
    path = maker.cache.plan_path(maker.key_for(TARGET))
    path.write_bytes(plan[: len(plan) // 2])
    again = _maker(build, workspace, rtx)
    assert again.plan_for(TARGET) and again.plans[-1].status == "rebuilt"
    assert "bytes" in again.plans[-1].reason


def test_rtx_refuses_gpus_it_does_not_target(rtx: flavours.Flavour, workspace: Path) -> None:
    maker = _maker(BUILDS["resnet50-fp32"], workspace, rtx)
    with pytest.raises(HarnessError, match="cannot build for compute capability 9.0"):
        maker.plan_for(GpuKind("NVIDIA H100 80GB HBM3", "9.0"))


def test_int8_without_qdq_says_what_strong_typing_needs(rtx: flavours.Flavour, workspace: Path) -> None:
    with pytest.raises(HarnessError, match="no INT8 calibrators") as caught:
        _maker(Build("resnet50", "int8"), workspace, rtx)
    assert "Q/DQ" in str(caught.value.fix)


def _onnx_networks() -> list[str]:
    names = []
    for name in model_names():
        cls = get_model_class(name)
        if cls.network is not None and "onnx" in cls.artefacts:
            names.append(name)
    return names


@pytest.mark.parametrize("name", _onnx_networks())
def test_models_with_an_onnx_network_are_listed(name: str) -> None:
    if not any(build.model == name for build in BUILDS.values()):
        pytest.skip(f"{name} has a network and an ONNX artefact but no entry in BUILDS: add one line")
