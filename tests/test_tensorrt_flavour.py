"""The TensorRT module seam: which flavour is chosen, and how the flavours differ (fake modules, no TensorRT)."""

from __future__ import annotations

import types
from typing import Any

import pytest

from harness.backends.tensorrt import flavour as flavours
from harness.backends.tensorrt import loader
from harness.errors import HarnessError


def fake(name: str, version: str, real: bool = True) -> types.ModuleType:
    module = types.ModuleType(name)
    if real:
        module.__file__ = f"/site-packages/{name}/__init__.py"
        module.Builder = object  # type: ignore[attr-defined]
    module.__version__ = version  # type: ignore[attr-defined]
    return module


def importer(**modules: types.ModuleType | None) -> Any:
    def load(name: str) -> types.ModuleType:
        found = modules.get(name)
        if found is None:
            raise ImportError(f"No module named '{name}'")
        return found

    return load


def test_full_tensorrt_is_preferred_when_both_import() -> None:
    both = importer(tensorrt=fake("tensorrt", "10.13.0.35"), tensorrt_rtx=fake("tensorrt_rtx", "1.7.1.116"))
    chosen, why = flavours.find("auto", both)
    assert chosen is not None and chosen.name == "tensorrt" and why == ""
    rtx, _ = flavours.find("tensorrt_rtx", both)
    assert rtx is not None and rtx.label == "TensorRT for RTX 1.7.1.116"


def test_stubs_and_old_versions_fall_through_to_rtx() -> None:
    stubs_only = importer(tensorrt=fake("tensorrt", "10.13.0.35", real=False),
                          tensorrt_rtx=fake("tensorrt_rtx", "1.7.1.116"))
    chosen, _ = flavours.find("auto", stubs_only)
    assert chosen is not None and chosen.name == "tensorrt_rtx"
    nothing, why = flavours.find("auto", importer(tensorrt=fake("tensorrt", "8.6.1")))
    assert nothing is None
    assert "written for TensorRT 10.x or 11.x" in why and "tensorrt_rtx does not import" in why
    assert "only type stubs" in flavours.check_module("tensorrt", fake("tensorrt", "10.1", real=False))
    assert flavours.check_module("tensorrt", fake("tensorrt", "11.4.0.106")) == ""
    assert "TensorRT for RTX 2.0" in flavours.check_module("tensorrt_rtx", fake("tensorrt_rtx", "2.0"))
    with pytest.raises(HarnessError, match="unknown TensorRT flavour"):
        flavours.find("tensorrt_llm")


@pytest.mark.parametrize(("name", "version", "typed", "calibrates", "fp16_flags", "fp16_onnx"), [
    ("tensorrt", "10.13.0.35", False, True, ("FP16",), "float32"),
    ("tensorrt", "11.4.0.106", True, False, (), "float16"),
    ("tensorrt_rtx", "1.7.1.116", True, False, (), "float16"),
])
def test_what_each_flavour_does(name: str, version: str, typed: bool, calibrates: bool,
                                fp16_flags: tuple[str, ...], fp16_onnx: str) -> None:
    f = flavours.Flavour(name, version, fake(name, version))
    assert f.strongly_typed is typed and f.calibrates is calibrates
    assert f.precision_flags("fp16") == fp16_flags and f.onnx_float_type("fp16") == fp16_onnx
    assert f.onnx_float_type("fp32") == "float32"
    assert f.precision_flags("int8") == (() if typed else ("INT8", "FP16"))
    assert f.precision_problem("int8", has_qdq=True) == ("", "")
    problem, fix = f.precision_problem("int8", has_qdq=False)
    assert bool(problem) is typed and (not typed or "Q/DQ" in fix)
    assert bool(f.precision_problem("bf16", has_qdq=False)[0]) is typed


def test_rtx_targets_the_gpus_compute_capability() -> None:
    module = fake("tensorrt_rtx", "1.7.1.116")
    module.ComputeCapability = types.SimpleNamespace(SM75="sm75", SM89="sm89", SM120="sm120")  # type: ignore[attr-defined]
    rtx = flavours.Flavour("tensorrt_rtx", "1.7.1.116", module)
    config = types.SimpleNamespace(num_compute_capabilities=0, targets={})
    config.set_compute_capability = lambda value, index: config.targets.__setitem__(index, value)
    rtx.target(config, "7.5")
    assert config.num_compute_capabilities == 1 and config.targets == {0: "sm75"}
    with pytest.raises(HarnessError, match="compute capability 9.0"):
        rtx.target(config, "9.0")
    assert rtx.runs_on("8.9") and rtx.runs_on("12.0") and not rtx.runs_on("9.0") and not rtx.runs_on("10.0")
    full = flavours.Flavour("tensorrt", "10.13.0.35", fake("tensorrt", "10.13.0.35"))
    untouched = types.SimpleNamespace()
    full.target(untouched, "9.0")  # full TensorRT builds for the GPU it runs on: nothing to set
    assert vars(untouched) == {} and full.runs_on("9.0")


def test_one_flavour_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    rtx = flavours.Flavour("tensorrt_rtx", "1.7.1.116", fake("tensorrt_rtx", "1.7.1.116"))
    monkeypatch.setattr(flavours, "_ACTIVE", rtx)
    assert flavours.activate("auto") is rtx and flavours.activate("tensorrt_rtx") is rtx
    assert flavours.active() is rtx
    with pytest.raises(HarnessError, match="already uses TensorRT for RTX") as caught:
        flavours.activate("tensorrt")
    assert "own process" in str(caught.value.fix)


def test_hopper_with_only_rtx_says_to_install_full_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    rtx = flavours.Flavour("tensorrt_rtx", "1.7.1.116", fake("tensorrt_rtx", "1.7.1.116"))
    monkeypatch.setattr(flavours, "find", lambda preference="auto": (rtx, ""))
    assert loader.gpu_problem(["8.9", "8.9"]) == ""
    problem = loader.gpu_problem(["9.0"])
    assert "TensorRT for RTX 1.7.1.116 runs on compute capability 7.5" in problem and "not 9.0" in problem
    assert "pip install 'tensorrt-cu" in problem
