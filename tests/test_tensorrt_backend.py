"""The TensorRT backend where TensorRT is absent: selection, install advice, errors, knobs, the
start_from_device gather (on torch's CPU device), and the self-test's comparison rules."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from harness.selftest_gpu import Row, compare_output, compare_outputs, format_table
from harness.systems import Knobs, all_systems

from harness.backends import backend_class, choose_auto
from harness.backends.device_samples import DeviceSamples
from harness.backends.tensorrt import diagnose, loader
from harness.errors import HarnessError
from harness.machine.host import GpuInfo, HostInfo
from harness.qsl import SampleStore
from models.base import Dataset
from tests.conftest import ROOT, run_cli

TRT_USABLE, TRT_WHY = loader.availability()
no_trt = pytest.mark.skipif(TRT_USABLE, reason="TensorRT is installed and usable here")


def test_registered_and_importable_without_tensorrt() -> None:
    cls = backend_class("tensorrt")
    assert cls.name == "tensorrt" and backend_class("TRT") is cls
    code = ("import sys, harness.run, harness.cli, harness.selftest_gpu, harness.backends.tensorrt.backend, "
            "harness.backends.tensorrt.prebuild; sys.exit(1 if 'tensorrt' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_stub_only_and_wrong_versions_are_not_tensorrt() -> None:
    stubs = types.ModuleType("tensorrt")  # what `import tensorrt` gives with only tensorrt-stubs installed
    assert "only type stubs" in loader.check_module(stubs)
    old = types.ModuleType("tensorrt")
    old.__file__ = "/x/tensorrt/__init__.py"
    old.Builder = object  # type: ignore[attr-defined]
    old.__version__ = "8.6.1"  # type: ignore[attr-defined]
    assert "written for TensorRT 10" in loader.check_module(old)
    old.__version__ = "10.13.0.35"  # type: ignore[attr-defined]
    assert loader.check_module(old) == ""


def test_install_advice_follows_cuda_version() -> None:
    assert loader.pip_command("12.4") == "pip install 'tensorrt-cu12>=10,<11'"
    assert loader.pip_command("13.0") == "pip install 'tensorrt-cu13>=10,<11'"
    assert loader.pip_command(None) == "pip install 'tensorrt-cu12>=10,<11'"
    assert "CUDA 12.4" in loader.install_hint("12.4") and "nvcr.io/nvidia/tensorrt" in loader.install_hint(None)


@no_trt
def test_auto_skips_tensorrt_and_says_why() -> None:
    host = HostInfo("cpu", 2, 8.0, "linux", (GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559, "550", "9.0"),))
    name, reason = choose_auto(host)
    assert name in ("torch", "onnxruntime")
    assert "TensorRT unusable" in reason and "pip install 'tensorrt-cu" in reason
    assert not TRT_USABLE and "pip install" in TRT_WHY
    with pytest.raises(HarnessError, match="TensorRT backend cannot run") as caught:
        loader.import_tensorrt()
    assert "pip install" in str(caught.value.fix)


@no_trt
@pytest.mark.parametrize("args", [
    ["run", "--model", "resnet50", "--scenario", "offline", "--backend", "tensorrt", "--demo"],
    ["engines", "--model", "resnet50", "--demo"],
    ["generate_engines", "--benchmarks=resnet50", "--scenarios=offline", "--test_run"],
])
def test_cli_without_tensorrt_explains_and_writes_nothing(args: list[str], workdir: Path) -> None:
    proc = run_cli(args + ["--results-dir", str(workdir / "results")], workdir, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot run here" in proc.stderr and "pip install 'tensorrt-cu" in proc.stderr
    assert not (workdir / "results").exists()


def test_tensorrt_knobs_are_validated() -> None:
    assert Knobs(workspace_mib=4096, builder_optimization_level=5, use_cuda_graphs=True).use_cuda_graphs
    for bad in ({"workspace_mib": 0}, {"workspace_mib": "4G"}, {"builder_optimization_level": 6},
                {"builder_optimization_level": True}, {"use_cuda_graphs": "yes"}, {"start_from_device": 1}):
        with pytest.raises(HarnessError):
            Knobs(**bad)  # type: ignore[arg-type]
    systems = {s.name: s for s in all_systems()}
    h100 = systems["h100_sxm_80gb_x1"]
    assert h100.knobs("resnet50", "Server", "tensorrt").use_cuda_graphs
    assert h100.knobs("resnet50", "Offline", "tensorrt").start_from_device


def test_parser_and_build_failures_read_well() -> None:
    error = diagnose.parser_failure(Path("m.onnx"), [
        diagnose.ParserProblem(12, "/layer1/Conv", "Conv", "kernel weights are not constant", "ErrorCode.INVALID_NODE"),
        diagnose.ParserProblem(40, "NonMaxSuppression_3", "NonMaxSuppression", "No importer registered",
                               "ErrorCode.UNSUPPORTED_NODE")])
    assert "node 12 '/layer1/Conv' (Conv): kernel weights are not constant" in error.message
    assert "NonMaxSuppression_3" in error.message and "operator" in str(error.fix)
    oom = diagnose.build_failure(["[defaultAllocator.cpp] Error: Requested amount of GPU memory (4294967296 bytes) "
                                  "could not be allocated"], 2048, None, "int8")
    assert "ran out of GPU memory" in oom.message
    assert "--batch-size 1024" in str(oom.fix) and "workspace" in str(oom.fix)
    other = diagnose.build_failure(["some tactic error"], 64, 1024, "fp16")
    assert "failed to build" in other.message and "TRT_VERBOSE=1" in str(other.fix)


def test_precision_needs_a_capable_gpu() -> None:
    assert "Ada or Hopper" in diagnose.precision_problem("fp8", "8.0", True, True)
    assert diagnose.precision_problem("fp8", "8.9", True, True) == ""
    assert diagnose.precision_problem("fp8", "9.0", True, True) == ""
    assert "no fast INT8" in diagnose.precision_problem("int8", "6.1", True, False)
    assert diagnose.precision_problem("int8", "8.0", True, True) == ""
    assert diagnose.PRECISION_FLAGS["int8"] == ("INT8", "FP16")


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
    table = format_table([Row("resnet50", build="41.2 s", outputs="argmax: 99.6% agree", outputs_ok=True,
                              samples_per_s="71,234", run_ok=True),
                          Row("bert", problem="error: TensorRT cannot parse x.onnx")])
    lines = table.splitlines()
    assert lines[0].startswith("model") and "PASS" in lines[2] and "FAIL" in lines[3]
    assert "cannot parse" in lines[4]
