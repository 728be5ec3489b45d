"""The TensorRT backend for real: needs an NVIDIA GPU and a TensorRT that runs on it (skipped elsewhere).

Small ResNet50 engines (random weights, demo ImageNet data) keep each build to tens of seconds. The
flavour is the process's (full TensorRT when it imports, else TensorRT for RTX); INT8 calibration is
TensorRT 10's only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.backends.base import BackendContext
from harness.backends.tensorrt import loader
from harness.backends.tensorrt.backend import TensorRTOptions
from harness.qsl import SampleStore
from harness.tools.selftest_gpu import compare_outputs
from models.resnet50 import ResNet50
from models.resnet50.dataset import ImageNetDataset
from models.resnet50.demo import write_demo_imagenet

USABLE, WHY = loader.availability()
if USABLE:
    WHY = loader.gpu_problem(loader.gpu_compute_capabilities())
    USABLE = not WHY
pytestmark = [pytest.mark.gpu, pytest.mark.tensorrt, pytest.mark.slow,
              pytest.mark.skipif(not USABLE, reason=f"needs a GPU and a TensorRT that runs on it: {WHY}")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImageNetDataset, SampleStore]:
    from harness.backends.tensorrt import flavour

    chosen = flavour.current()  # e.g. TensorRT for RTX, taken by the build tests in this process
    if chosen is not None and not all(chosen.runs_on(cc) for cc in loader.gpu_compute_capabilities()):
        pytest.skip(f"this test process already uses {chosen.label}, which does not run on this GPU")
    root = tmp_path_factory.mktemp("trt")
    write_demo_imagenet(root / "data", 32)
    dataset = ImageNetDataset(root / "data", root / "cache" / "preprocessed")
    store = SampleStore(dataset, ResNet50.sample_inputs)
    store.load(list(range(32)))
    return root, dataset, store


def context(root: Path, dataset: ImageNetDataset, **changes: object) -> BackendContext:
    values: dict[str, object] = {"device": "cuda", "precision": "fp16", "max_batch_size": 8, "streams_per_device": 1,
                                 "cache_dir": root / "cache", "engine_dir": root / "engines", "calibration": dataset}
    values.update(changes)
    return BackendContext(**values)  # type: ignore[arg-type]


def test_fp16_engine_matches_torch_then_is_reused(setup: tuple[Path, ImageNetDataset, SampleStore]) -> None:
    from harness.backends.tensorrt.backend import TensorRTBackend
    from harness.backends.torch_backend import TorchBackend

    root, dataset, store = setup
    model = ResNet50()
    inputs = store.gather(np.arange(8))
    backend = TensorRTBackend(model, context(root, dataset))
    assert backend.plans[0].status == "built"
    with backend.create_runner("cuda:0", 0) as runner:
        got = runner.infer(inputs, 8)
        short = runner.infer(store.gather(np.arange(3)), 3)
    with TorchBackend(model, context(root, dataset, precision="fp32")).create_runner("cuda:0", 0) as runner:
        want = runner.infer(inputs, 8)
    assert got["argmax"].dtype == np.int64 and got["argmax"].shape == (8,)
    assert compare_outputs(want, got, random_weights=True).passed
    np.testing.assert_array_equal(short["argmax"], got["argmax"][:3])
    again = TensorRTBackend(model, context(root, dataset))
    assert again.plans[0].status == "reused"
    plan = Path(again.plans[0].path)
    plan.write_bytes(plan.read_bytes()[: plan.stat().st_size // 2])
    rebuilt = TensorRTBackend(model, context(root, dataset))
    assert rebuilt.plans[0].status == "rebuilt" and "bytes" in rebuilt.plans[0].reason


def test_streams_graphs_and_start_from_device_agree(setup: tuple[Path, ImageNetDataset, SampleStore]) -> None:
    from harness.backends.tensorrt.backend import TensorRTBackend

    root, dataset, store = setup
    backend = TensorRTBackend(ResNet50(), context(root, dataset, streams_per_device=2),
                              TensorRTOptions(use_cuda_graphs=True, start_from_device=True))
    runners = backend.runners()
    assert len(runners) == 2 * len(backend.devices())
    picks = np.array([5, 1, 30, 7, 2])
    host = store.gather(picks)
    results = [r.infer(host, 5)["argmax"] for r in runners]
    results += [r.infer_samples(store, picks, 5)["argmax"] for r in runners]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])
    assert backend.info().details["cuda_graph_batch_sizes"] == [1, 2, 4, 8]
    for runner in runners:
        runner.close()


def test_int8_calibrates_once_and_reuses_the_cache(setup: tuple[Path, ImageNetDataset, SampleStore]) -> None:
    from harness.backends.tensorrt import flavour
    from harness.backends.tensorrt.backend import TensorRTBackend

    if not flavour.active().calibrates:
        pytest.skip(f"{flavour.active().label} has no INT8 calibrators (TensorRT 10 only)")
    root, dataset, store = setup
    first = TensorRTBackend(ResNet50(), context(root, dataset, precision="int8"))
    caches = list((root / "engines" / "resnet50" / "calibration").glob("*.cache"))
    assert len(caches) == 1 and caches[0].stat().st_size > 0
    assert "NOT the MLPerf list" in first.maker.calibration_source
    second = TensorRTBackend(ResNet50(), context(root, dataset, precision="int8", max_batch_size=4))
    assert second.plans[0].status == "built"  # another batch size: a new engine, same calibration cache
    assert list((root / "engines" / "resnet50" / "calibration").glob("*.cache")) == caches
    with second.create_runner("cuda:0", 0) as runner:
        out = runner.infer(store.gather(np.arange(4)), 4)
    assert out["argmax"].shape == (4,)
