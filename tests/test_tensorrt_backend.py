"""The TensorRT backend where it cannot run (no GPU): selection, install advice, errors, knobs, the
start_from_device gather (on torch's CPU device), and the self-test's comparison rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import options
from harness.backends import backend_class
from harness.backends.device_samples import DeviceSamples
from harness.backends.tensorrt import diagnose, loader
from harness.backends.tensorrt import flavour as flavours
from harness.backends.tensorrt.backend import TensorRTOptions
from harness.errors import HarnessError
from harness.machine.host import GpuInfo, HostInfo
from harness.qsl import SampleStore
from harness.resolve import choose_backend
from harness.system_configs import load_system
from harness.tools.selftest_gpu import (
    Row,
    compare_output,
    compare_outputs,
    flavours_to_test,
    format_table,
)
from models.base import Dataset
from models.resnet50 import ResNet50
from tests.conftest import ROOT, run_cli

TRT_USABLE, TRT_WHY = loader.availability()
no_trt = pytest.mark.skipif(TRT_USABLE, reason="TensorRT and a GPU are usable here")


def test_registered_and_importable_without_tensorrt() -> None:
    cls = backend_class("tensorrt")
    assert cls.name == "tensorrt" and backend_class("TRT") is cls
    code = ("import sys, harness.run, harness.cli, harness.tools.selftest_gpu, harness.tools.engines, "
            "harness.backends.tensorrt.backend, harness.backends.tensorrt.plans, harness.backends.tensorrt.typed_onnx; "
            "sys.exit(1 if {'tensorrt', 'tensorrt_rtx'} & set(sys.modules) else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_install_advice_follows_cuda_version() -> None:
    assert loader.pip_command("12.4") == "pip install 'tensorrt-cu12>=10,<12'"
    assert loader.pip_command("13.0") == "pip install 'tensorrt-cu13>=10,<12'"
    assert loader.pip_command(None) == "pip install 'tensorrt-cu12>=10,<12'"
    hint = loader.install_hint("12.4")
    assert "CUDA 12.4" in hint and "nvcr.io/nvidia/tensorrt" in hint and "pip install tensorrt-rtx-cu13" in hint


def test_without_any_tensorrt_the_reason_is_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flavours, "find", lambda preference="auto": (None, "tensorrt does not import"))
    usable, why = loader.availability()
    assert not usable and "tensorrt does not import" in why and "pip install 'tensorrt-cu" in why
    with pytest.raises(HarnessError, match="TensorRT backend cannot run") as caught:
        loader.activate()
    assert "pip install" in str(caught.value.fix)


@no_trt
def test_auto_skips_tensorrt_and_says_why() -> None:
    host = HostInfo("cpu", 2, 8.0, "linux", (GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559, "550", "9.0"),))
    name, reason = choose_backend(host, "auto", ResNet50)
    assert name in ("torch", "onnxruntime")
    assert "tensorrt unusable" in reason and TRT_WHY.split(";")[0] in reason


@no_trt
@pytest.mark.parametrize("args", [
    ["run", "--model", "resnet50", "--scenario", "offline", "--backend", "tensorrt", "--demo"],
    ["engines", "--model", "resnet50", "--demo"],
    ["generate_engines", "--benchmarks=resnet50", "--scenarios=offline", "--test_run"],
])
def test_cli_without_tensorrt_explains_and_writes_nothing(args: list[str], workdir: Path) -> None:
    proc = run_cli(args + ["--results-dir", str(workdir / "results")], workdir, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot run here" in proc.stderr and TRT_WHY.split(";")[0] in proc.stderr
    assert not (workdir / "results").exists()


def test_tensorrt_knobs_are_validated() -> None:
    good = options.build(TensorRTOptions, {"workspace_mib": 4096, "builder_optimization_level": 5,
                                           "use_cuda_graphs": True, "flavour": "tensorrt_rtx"}, "test")
    assert good.use_cuda_graphs and good.flavour == "tensorrt_rtx"
    assert TensorRTOptions().flavour == "auto"
    for bad in ({"workspace_mib": 0}, {"workspace_mib": "4G"}, {"builder_optimization_level": 6},
                {"builder_optimization_level": True}, {"use_cuda_graphs": "yes"}, {"start_from_device": 1},
                {"flavour": "tensorrt_llm"}):
        with pytest.raises(HarnessError):
            options.build(TensorRTOptions, bad, "test")
    h100 = load_system("h100_sxm_80gb_x1")
    assert h100.knobs("resnet50", "Server", "tensorrt").backend.use_cuda_graphs
    assert h100.knobs("resnet50", "Offline", "tensorrt").backend.start_from_device


def test_parser_and_build_failures_read_well() -> None:
    error = diagnose.parser_failure(Path("m.onnx"), [
        diagnose.ParserProblem(12, "/layer1/Conv", "Conv", "kernel weights are not constant", "ErrorCode.INVALID_NODE"),
        diagnose.ParserProblem(40, "NonMaxSuppression_3", "NonMaxSuppression", "No importer registered",
                               "ErrorCode.UNSUPPORTED_NODE")])
    assert "node 12 '/layer1/Conv' (Conv): kernel weights are not constant" in error.message
    assert "NonMaxSuppression_3" in error.message and "operator" in str(error.fix)
    mixed = diagnose.parser_failure(Path("m.onnx"), [diagnose.ParserProblem(
        48, "/Sub", "Sub", "ElementWiseOperation SUB must have same input types. But they are of types Float and "
        "Half.", "ErrorCode.INVALID_NODE")])
    assert "node 48 '/Sub' (Sub)" in mixed.message and "float32 and float16" in str(mixed.fix)
    oom = diagnose.build_failure(["[defaultAllocator.cpp] Error: Requested amount of GPU memory (4294967296 bytes) "
                                  "could not be allocated"], 2048, None, "int8")
    assert "ran out of GPU memory" in oom.message
    assert "--batch-size 1024" in str(oom.fix) and "workspace" in str(oom.fix)
    other = diagnose.build_failure(["some tactic error"], 64, 1024, "fp16")
    assert "failed to build" in other.message and "TRT_VERBOSE=1" in str(other.fix)


def test_a_refused_layer_is_named_with_its_onnx_node_and_the_way_out() -> None:
    # What TensorRT (10.x, 11.x and for RTX alike) logs for RetinaNet's sort over 5 x 1000 candidates.
    logged = ("IBuilder::buildSerializedNetwork: Error Code 4: API Usage Error (ITopKLayer /TopK_5: /TopK_5: K "
              "exceeds the maximum value allowed (3840). In processCheck at /_src/optimizer/shapeof/x.cpp:1066)")
    error = diagnose.build_failure(["a warning", logged], 8, None, "fp16", {"/TopK_5": "TopK", "/Conv": "Conv"})
    assert error.message.startswith("TensorRT refuses to build ONNX node '/TopK_5' (TopK)")
    assert "more than 3840 elements" in error.message and logged in error.message
    assert "K <= 3840" in str(error.fix) and "--backend torch or onnxruntime" in str(error.fix)
    unknown = diagnose.build_failure([logged], 8, None, "fp16")
    assert "layer '/TopK_5'" in unknown.message
    # TensorRT for RTX 1.7 on RetinaNet's NonMaxSuppression (the layer name gets a number appended).
    no_kernel = ("[tacticSupply.cpp::getSupportedFormats::48] Error Code 2: Internal Error (Assertion "
                 "!layerImpls.empty() failed. /NonMaxSuppression_1637 has no runners that implement it)")
    rtx = diagnose.build_failure([no_kernel], 8, None, "fp32", {"/NonMaxSuppression": "NonMaxSuppression"},
                                 "TensorRT for RTX 1.7.1.116")
    assert rtx.message.startswith("TensorRT for RTX 1.7.1.116 refuses to build ONNX node '/NonMaxSuppression' "
                                  "(NonMaxSuppression): TensorRT for RTX 1.7.1.116 has no kernel for this layer")
    assert "--set flavour=tensorrt" in str(rtx.fix) and "--backend torch" in str(rtx.fix)


def test_precision_needs_a_capable_gpu() -> None:
    assert "Ada or Hopper" in diagnose.precision_problem("fp8", "8.0")
    assert diagnose.precision_problem("fp8", "8.9") == ""
    assert diagnose.precision_problem("fp8", "9.0") == ""
    assert "no fast INT8" in diagnose.precision_problem("int8", "6.0")
    assert diagnose.precision_problem("int8", "7.5") == ""
    assert "Ampere" in diagnose.precision_problem("bf16", "7.5")
    assert diagnose.precision_problem("bf16", "12.0") == ""
    assert flavours.PRECISION_FLAGS["int8"] == ("INT8", "FP16")


class _Sequences(Dataset):
    """Eight padded token sequences of known lengths (a sequence-axis model's dataset)."""

    name = "sequences"

    def __init__(self) -> None:
        self._lengths = np.array([3, 7, 2, 8, 5, 1, 6, 4])
        ids = np.zeros((8, 8), dtype=np.int32)
        for i, n in enumerate(self._lengths):
            ids[i, :n] = np.arange(1, n + 1) + 100 * i
        self._ids = ids

    @property
    def total_count(self) -> int:
        return 8

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"ids": self._ids[indices], "label": indices.astype(np.int64)}

    def sample_lengths(self) -> np.ndarray:
        return self._lengths


def test_device_samples_gather_like_the_host_store() -> None:
    from models.base import TensorSpec

    inputs = (TensorSpec("ids", (-1,), "int32", max_shape=(8,)), TensorSpec("label", (), "int64"))
    store = SampleStore(_Sequences(), inputs)
    store.load([1, 4, 6, 2])
    mirror = DeviceSamples("cpu", {"ids": 1})
    picks = np.array([6, 2, 4])
    device = mirror.gather(store, picks)
    host = store.gather(picks)
    assert device["ids"].shape == (3, 6)  # cropped to the longest of lengths 6, 2, 5
    for name in host:
        np.testing.assert_array_equal(device[name].numpy(), host[name])
    uploaded = mirror.uploaded_bytes
    store.load([0, 3])  # new samples: the device copy refreshes
    both = np.array([3, 0])
    np.testing.assert_array_equal(mirror.gather(store, both)["ids"].numpy(), store.gather(both)["ids"])
    assert mirror.uploaded_bytes > uploaded


def test_selftest_comparisons() -> None:
    ref = np.linspace(-5, 5, 40, dtype=np.float32).reshape(4, 10)
    assert compare_output(ref, ref + 0.01, random_weights=False).passed
    bad = compare_output(ref, ref * -1, random_weights=False)
    assert not bad.passed and "cos" in bad.text
    classes = np.arange(100)
    off = classes.copy()
    off[:5] = 0
    assert not compare_output(classes, off, random_weights=False).passed  # 95% < 99%
    assert compare_output(classes, off, random_weights=True).passed  # 95% >= 90%
    assert not compare_output(classes, classes[:50], random_weights=True).passed
    both = compare_outputs({"argmax": classes}, {"argmax": classes}, False)
    assert both.passed and "100.0% agree" in both.text
    assert not compare_outputs({"argmax": classes}, {}, False).passed
    table = format_table([Row("resnet50", "TensorRT 10.13.0.35", build="41.2 s", outputs="argmax: 99.6% agree",
                              outputs_ok=True, samples_per_s="71,234", run_ok=True),
                          Row("bert", problem="error: TensorRT cannot parse x.onnx")])
    lines = table.splitlines()
    assert lines[0].startswith("model") and "PASS" in lines[2] and "FAIL" in lines[3]
    assert "cannot parse" in lines[4]


def _detections(boxes: list[list[float]], scores: list[float], labels: list[int],
                slots: int = 6) -> dict[str, np.ndarray]:
    """One image's padded detections, as RetinaNet's network returns them (rows past count are zero)."""
    out = {"boxes": np.zeros((1, slots, 4), np.float32), "scores": np.zeros((1, slots), np.float32),
           "labels": np.zeros((1, slots), np.int64), "count": np.array([len(scores)], np.int64)}
    out["boxes"][0, :len(boxes)] = np.reshape(boxes, (-1, 4))
    out["scores"][0, :len(scores)] = scores
    out["labels"][0, :len(labels)] = labels
    return out


def test_selftest_compares_padded_detections_as_sets() -> None:
    boxes = [[0.1, 0.1, 0.5, 0.5], [0.2, 0.6, 0.4, 0.9], [0.6, 0.1, 0.9, 0.3], [0.0, 0.0, 1.0, 1.0]]
    scores, labels = [0.90, 0.801, 0.800, 0.30], [3, 7, 7, 1]
    torch_out = _detections(boxes, scores, labels)
    # fp16 flips the two near-equal scores, so the rows come in another order: the same set of detections.
    swapped = [0, 2, 1, 3]
    engine_out = _detections([boxes[i] for i in swapped], [0.899, 0.8005, 0.8009, 0.301], [labels[i] for i in swapped])
    element_wise = compare_output(torch_out["boxes"], engine_out["boxes"], random_weights=False)
    assert not element_wise.passed  # what the old row-by-row check said
    as_sets = compare_outputs(torch_out, engine_out, random_weights=False)
    assert as_sets.passed, as_sets.text
    assert "100.0% matched as sets" in as_sets.text and "4 torch vs 4 engine" in as_sets.text
    shifted = _detections([[b[0] + 0.05, b[1], b[2] + 0.05, b[3]] for b in boxes], scores, labels)
    assert not compare_outputs(torch_out, shifted, random_weights=True).passed  # boxes moved: IoU < 0.9
    relabelled = _detections(boxes, scores, [3, 7, 7, 2])
    assert "75.0% matched" in compare_outputs(torch_out, relabelled, random_weights=True).text
    one_more = _detections([*boxes, [0.3, 0.3, 0.35, 0.35]], [*scores, 0.06], [*labels, 5])
    extra = compare_outputs(torch_out, one_more, random_weights=True)
    assert not extra.passed and "80.0% matched" in extra.text  # 4 of the larger count, 5
    nothing = _detections([], [], [])
    assert compare_outputs(nothing, nothing, random_weights=False).passed
    assert not compare_outputs(torch_out, {"boxes": torch_out["boxes"]}, random_weights=False).passed


def test_selftest_covers_the_rtx_flavour_where_it_runs() -> None:
    both = ["tensorrt", "tensorrt_rtx"]
    assert flavours_to_test(both, ["8.9", "8.9", "8.9"]) == both  # L40S: full TensorRT and TensorRT for RTX
    assert flavours_to_test(both, ["9.0"]) == ["tensorrt"]  # H100: no TensorRT for RTX
    assert flavours_to_test(["tensorrt_rtx"], ["12.0"]) == ["tensorrt_rtx"]
    assert flavours_to_test(["tensorrt_rtx"], ["8.6", "9.0"]) == []
