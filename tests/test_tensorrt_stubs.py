"""The TensorRT stubs: the mechanical patch, and mypy really rejecting TensorRT 8-era calls."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
spec = importlib.util.spec_from_file_location("patch_tensorrt_stubs", ROOT / "scripts" / "patch_tensorrt_stubs.py")
assert spec is not None and spec.loader is not None
patch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(patch)


def _stubs_installed() -> bool:
    try:
        metadata.distribution("tensorrt-stubs")
    except metadata.PackageNotFoundError:
        return False
    return True


needs_stubs = pytest.mark.skipif(not _stubs_installed(), reason="tensorrt-stubs not installed (make typecheck does it)")


def test_keyword_parameter_renamed() -> None:
    line = "    def get_workspace_size(self, in: list[PluginTensorDesc], out: list[PluginTensorDesc]) -> int:\n"
    fixed = patch.fix_def_line(line)
    assert fixed == line.replace("(self, in:", "(self, in_:")
    ast.parse(fixed.strip() + "\n        ...")


def test_required_after_default_gets_ellipsis() -> None:
    line = ("    def add_scale_nd(self, input: ITensor, mode: ScaleMode, shift: Weights = None, "
            "power: Weights = None, channel_axis: int) -> IScaleLayer:")
    fixed = patch.fix_def_line(line)
    assert fixed.endswith("power: Weights = None, channel_axis: int = ...) -> IScaleLayer:")
    ast.parse(fixed.strip() + "\n        ...")


def test_brackets_strings_and_star_are_respected() -> None:
    line = "def f(a: dict[str, int] = {'x,y': 1}, *, b: int, c: Callable[[int, str], None]) -> None:"
    # After a bare `*`, parameters may be required: nothing to add.
    assert patch.fix_def_line(line) == line
    line2 = "def g(a: int = 1, b: tuple[int, int]) -> None:"
    assert patch.fix_def_line(line2) == "def g(a: int = 1, b: tuple[int, int] = ...) -> None:"


def test_fix_is_idempotent_and_leaves_other_lines() -> None:
    source = "class A:\n    in_docs = 'def x(in: int)'\n    def f(self, in: int, y: int = 2, z: int) -> None: ...\n"
    once = patch.fix_source(source)
    assert patch.fix_source(once) == once
    assert "in_docs = 'def x(in: int)'" in once
    assert patch.parse_error(once, "x.pyi") is None
    assert patch.parse_error(source, "x.pyi") is not None


@needs_stubs
def test_installed_stubs_parse_and_are_marked_typed() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "patch_tensorrt_stubs.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    files = patch.stub_files()
    assert any(f.name == "tensorrt.pyi" for f in files)
    for root in {patch._package_root(f) for f in files}:
        assert (root / "py.typed").is_file(), root


@needs_stubs
def test_mypy_rejects_tensorrt_8_calls(tmp_path: Path) -> None:
    bad = tmp_path / "trt8_calls.py"
    bad.write_text(
        "import tensorrt as trt\n\n\n"
        "def old(engine: trt.ICudaEngine, builder: trt.Builder, network: trt.INetworkDefinition) -> None:\n"
        "    context = engine.create_execution_context()\n"
        "    context.execute_async_v2([0], 0)\n"
        "    builder.build_engine(network, builder.create_builder_config())\n"
        "    engine.get_binding_index('input')\n")
    good = tmp_path / "trt10_calls.py"
    good.write_text(
        "import tensorrt as trt\n\n\n"
        "def new(engine: trt.ICudaEngine, builder: trt.Builder, network: trt.INetworkDefinition) -> bool:\n"
        "    context = engine.create_execution_context()\n"
        "    context.set_tensor_address(engine.get_tensor_name(0), 0)\n"
        "    plan = builder.build_serialized_network(network, builder.create_builder_config())\n"
        "    return plan is not None and context.execute_async_v3(0)\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--no-incremental", str(bad), str(good)], capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert '"IExecutionContext" has no attribute "execute_async_v2"' in out
    assert '"Builder" has no attribute "build_engine"' in out
    assert '"ICudaEngine" has no attribute "get_binding_index"' in out
    assert "trt10_calls.py" not in out, out
