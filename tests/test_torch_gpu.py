"""The torch backend's CUDA runner: every execution path gives the same answers (needs a CUDA GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.backends import BackendContext, backend_class
from harness.backends.device_samples import graph_batch_sizes
from harness.backends.torch_backend import TorchOptions
from harness.qsl import SampleStore
from models.resnet50 import ResNet50
from models.resnet50.dataset import ImageNetDataset
from models.resnet50.demo import write_demo_imagenet
from tests.conftest import run_cli, run_records

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of torch")]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SampleStore:
    root = tmp_path_factory.mktemp("gpu")
    write_demo_imagenet(root / "data", 24)
    dataset = ImageNetDataset(root / "data", root / "cache")
    samples = SampleStore(dataset, ResNet50.sample_inputs)
    samples.load(list(range(24)))
    return samples


def _run(store: SampleStore, indices: np.ndarray, precision: str = "fp32", **options: object) -> np.ndarray:
    context = BackendContext(device="cuda", max_batch_size=16, precision=precision)
    backend = backend_class("torch")(ResNet50(seed=3), context, TorchOptions(**options))  # type: ignore[arg-type]
    runner = backend.runners()[0]
    runner.warmup(store.gather(indices[:8]), 8)
    out = runner.infer_samples(store, indices, len(indices))["argmax"].copy()
    runner.close()
    return out


@pytest.mark.parametrize("count", [16, 5, 1])
def test_graphs_device_samples_and_fp16_agree_with_eager(store: SampleStore, count: int) -> None:
    indices = np.arange(count, dtype=np.int64)[::-1].copy()
    eager = _run(store, indices)
    assert eager.shape == (count,)
    np.testing.assert_array_equal(_run(store, indices, use_cuda_graphs=True), eager)
    np.testing.assert_array_equal(_run(store, indices, start_from_device=True), eager)
    np.testing.assert_array_equal(_run(store, indices, use_cuda_graphs=True, start_from_device=True), eager)
    half = _run(store, indices, precision="fp16", channels_last=True)
    assert (half == eager).mean() >= 0.8  # fp16 may flip near-ties of a random network


def test_compiled_shapes_agree(store: SampleStore) -> None:
    indices = np.arange(7, dtype=np.int64)
    np.testing.assert_array_equal(_run(store, indices, torch_compile="default"), _run(store, indices))
    assert graph_batch_sizes(16) == [1, 2, 4, 8, 16]


def test_short_offline_and_server_runs_on_the_gpu(workdir: Path) -> None:
    for scenario, extra in (("offline", ["--min-query-count", "4096", "--target-qps", "1000"]),
                            ("server", ["--min-query-count", "600", "--target-qps", "2000"])):
        proc = run_cli(["run", "--model", "resnet50", "--scenario", scenario, "--backend", "torch", "--device",
                        "cuda", "--demo", "--min-duration-ms", "0", "--set", "use_cuda_graphs=true",
                        "--set", "start_from_device=true", "--set", "precision=fp16", "--batch-size", "64",
                        "--results-dir", str(workdir / scenario), *extra], workdir)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (record,) = run_records(workdir / scenario)
        assert record["result"]["valid"] is True, record["result"]
        assert record["backend"]["devices"][0].startswith("cuda") and record["backend"]["precision"] == "fp16"
