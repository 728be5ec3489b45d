"""RetinaNet on a CUDA GPU with the torch backend: NMS runs on the device and agrees with the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.retinanet import detect, network
from tests.conftest import run_cli, run_records

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU visible to torch")]


def test_nms_on_the_gpu_matches_the_cpu() -> None:
    generator = torch.Generator().manual_seed(0)
    batch, count = 4, 3000
    corners = torch.rand((batch, count, 2), generator=generator) * 700
    sizes = torch.rand((batch, count, 2), generator=generator) * 120 + 4
    boxes = torch.cat([corners, corners + sizes], dim=2)
    scores, order = torch.rand((batch, count), generator=generator).sort(dim=1, descending=True)
    boxes = boxes.gather(1, order.unsqueeze(2).expand(-1, -1, 4))
    labels = torch.randint(0, 20, (batch, count), generator=generator)
    cpu = detect.pad_detections(boxes, scores, labels, detect.class_nms(boxes, scores, labels, 264, 0.5, 0.05,
                                                                       1000), 1000, 800)
    on_gpu = [t.cuda() for t in (boxes, scores, labels)]
    keep = detect.class_nms(*on_gpu, 264, 0.5, 0.05, 1000)
    assert keep.is_cuda
    gpu = detect.pad_detections(*on_gpu, keep, 1000, 800)
    for c, g in zip(cpu, gpu):
        torch.testing.assert_close(g.cpu(), c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_network_runs_on_the_gpu(dtype: torch.dtype) -> None:
    model = network.build(None, seed=0).to("cuda", dtype=dtype)
    images = torch.randint(0, 256, (2, 3, 800, 800), dtype=torch.uint8, device="cuda")
    with torch.inference_mode():
        boxes, scores, labels, counts = model(images)
    assert boxes.dtype == torch.float32 and boxes.shape == (2, 1000, 4)  # detection runs in fp32
    assert counts.min().item() > 0
    for i, count in enumerate(counts.tolist()):
        assert torch.all(scores[i, : count - 1] >= scores[i, 1:count])
        assert torch.all((boxes[i, :count] >= 0) & (boxes[i, :count] <= 1))
        assert torch.all(labels[i, :count] < 264)


@pytest.mark.slow
def test_offline_accuracy_torch_on_the_gpu(workdir: Path) -> None:
    results = workdir / "results"
    proc = run_cli(["run", "--model", "retinanet", "--scenario", "offline", "--mode", "accuracy", "--demo",
                    "--demo-samples", "8", "--backend", "torch", "--device", "cuda", "--results-dir", str(results)],
                   cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = run_records(results)[0]
    assert record["backend"]["devices"][0].startswith("cuda")
    assert record["accuracy"]["samples"] == 8 and np.isfinite(record["accuracy"]["metrics"]["mAP"])
