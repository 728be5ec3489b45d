"""RetinaNet detection step on crafted inputs: candidate selection, box decoding, class-wise NMS, padding,
accuracy-log records, and the exported ONNX graph against PyTorch."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.detection._utils import BoxCoder

from models.retinanet import detect, network
from models.retinanet.records import RECORD_FLOATS, detection_records

CODER = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))


def test_level_candidate_decodes_the_right_anchor_and_class() -> None:
    # 2 anchors per cell, 3 classes, a 2x2 map; one (anchor 1, class 2) logit at cell y=1, x=0 stands out.
    classes, anchors_per_cell, h, w = 3, 2, 2, 2
    logits = torch.full((1, anchors_per_cell * classes, h, w), -5.0)
    logits[0, 1 * classes + 2, 1, 0] = 3.0
    regression = torch.zeros((1, anchors_per_cell * 4, h, w))
    regression[0, 1 * 4:2 * 4, 1, 0] = torch.tensor([0.1, -0.2, math.log(2.0), 0.0])
    anchors = torch.zeros((h * w * anchors_per_cell, 4))
    anchors[(1 * w + 0) * anchors_per_cell + 1] = torch.tensor([10.0, 20.0, 30.0, 60.0])  # (y, x, anchor) order
    boxes, scores, labels = detect.level_candidates(logits, regression, anchors, classes, 1, CODER, 50)
    assert labels.tolist() == [[2]]
    assert scores.item() == pytest.approx(1 / (1 + math.exp(-3.0)))
    # centre (20, 40) moves by (0.1 * 20, -0.2 * 40); width doubles to 40; y2 = 52 is clipped to the image (50).
    assert boxes[0, 0].tolist() == pytest.approx([2.0, 12.0, 42.0, 50.0])


def test_level_candidates_keep_the_top_k_and_clamp_huge_sizes() -> None:
    logits = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(1, 6, 2, 2) - 30.0
    regression = torch.zeros((1, 8, 2, 2))
    regression[:, 2::4] = 10.0  # dw far beyond log(1000 / 16)
    anchors = torch.tensor([[100.0, 100.0, 102.0, 102.0]]).repeat(8, 1)
    boxes, scores, labels = detect.level_candidates(logits, regression, anchors, 3, 4, CODER, 10_000)
    assert scores.shape == (1, 4)
    assert torch.all(scores[0, :-1] >= scores[0, 1:])  # best first
    assert labels[0, 0].item() == 2  # the largest logit sits in anchor 1's class 2
    width = (boxes[0, :, 2] - boxes[0, :, 0])
    assert torch.allclose(width, torch.full_like(width, 2.0 * 1000 / 16))


def _crafted() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two images x 6 candidates, sorted by score per image."""
    boxes = torch.tensor([
        [[0, 0, 10, 10], [0, 0, 10, 12], [0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 10, 20], [50, 50, 60, 60]],
        [[0, 0, 40, 40], [1, 1, 41, 41], [100, 100, 200, 200], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]],
    ], dtype=torch.float32)
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5, 0.04],
                           [0.95, 0.9, 0.3, 0.01, 0.01, 0.01]])
    labels = torch.tensor([[3, 3, 7, 3, 3, 3],
                           [1, 1, 1, 0, 0, 0]])
    return boxes, scores, labels


def test_class_nms_suppresses_overlaps_within_a_class_only() -> None:
    boxes, scores, labels = _crafted()
    keep = detect.class_nms(boxes, scores, labels, 8, 0.5, 0.05, 1000)
    # image 0: IoU(0, 1) = 100/120 -> 1 goes; 2 is another class; IoU(0, 3) = 1/3 and IoU(0, 4) = 0.5
    # exactly (not above the threshold) stay; 5 is below the 0.05 score threshold.
    # image 1: IoU(0, 1) = 0.905 -> 1 goes; the 0.01 scores are below the threshold.
    assert keep.tolist() == [[1, 0, 1, 1, 1, 0], [1, 0, 1, 0, 0, 0]]


def test_padded_output_is_score_ordered_normalised_and_capped() -> None:
    boxes, scores, labels = _crafted()
    keep = detect.class_nms(boxes, scores, labels, 8, 0.5, 0.05, 1000)
    out_boxes, out_scores, out_labels, counts = detect.pad_detections(boxes, scores, labels, keep, 3, 100)
    assert counts.tolist() == [3, 2]  # image 0 keeps 4 and is capped at 3
    assert out_scores[0].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert out_labels[0].tolist() == [3, 7, 3]
    # [ymin, xmin, ymax, xmax] / 100 of box [5, 0, 15, 10]
    assert out_boxes[0, 2].tolist() == pytest.approx([0.0, 0.05, 0.1, 0.15])
    assert out_scores[1].tolist() == pytest.approx([0.95, 0.3, 0.0])
    assert out_boxes[1, 1].tolist() == pytest.approx([1.0, 1.0, 2.0, 2.0])
    assert out_boxes[1, 2].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_records_are_float32_sevens_with_the_qsl_index() -> None:
    boxes, scores, labels = _crafted()
    keep = detect.class_nms(boxes, scores, labels, 8, 0.5, 0.05, 1000)
    padded = detect.pad_detections(boxes, scores, labels, keep, 5, 100)
    outputs = {name: t.numpy() for name, t in zip(network.OUTPUT_NAMES, padded)}
    responses = detection_records(outputs, np.array([17, 4]))
    assert len(responses) == 2
    first = np.frombuffer(responses.sample_bytes(0), dtype=np.float32).reshape(-1, RECORD_FLOATS)
    second = np.frombuffer(responses.sample_bytes(1), dtype=np.float32).reshape(-1, RECORD_FLOATS)
    assert first.shape == (4, 7) and second.shape == (2, 7)
    assert set(first[:, 0]) == {17.0} and set(second[:, 0]) == {4.0}
    np.testing.assert_allclose(first[1], [17, 0, 0, 0.1, 0.1, 0.7, 7], rtol=1e-6)
    # no detections at all: an empty response per image
    empty = {**outputs, "count": np.zeros(2, dtype=np.int64)}
    nothing = detection_records(empty, np.array([0, 1]))
    assert [len(nothing.sample_bytes(i)) for i in range(2)] == [0, 0]


class _NmsOnly(nn.Module):
    def forward(self, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keep = detect.class_nms(boxes, scores, labels, 8, 0.5, 0.05, 1000)
        return detect.pad_detections(boxes, scores, labels, keep, 3, 100)


def test_onnx_nms_matches_torchvision(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    boxes, scores, labels = _crafted()
    path = tmp_path / "nms.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(_NmsOnly(), (boxes, scores, labels), str(path), input_names=["b", "s", "l"],
                          dynamic_axes={"b": {0: "n"}, "s": {0: "n"}, "l": {0: "n"}}, opset_version=17,
                          dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"b": boxes.numpy(), "s": scores.numpy(), "l": labels.numpy()})
    want = _NmsOnly()(boxes, scores, labels)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-6)
    one = session.run(None, {"b": boxes[1:].numpy(), "s": scores[1:].numpy(), "l": labels[1:].numpy()})
    np.testing.assert_allclose(one[1], want[1][1:].numpy(), rtol=1e-6)


def test_exported_network_matches_pytorch_on_a_batch(tmp_path: Path) -> None:
    """The whole network (at 128x128 to keep it quick): same detections from onnxruntime as from PyTorch."""
    ort = pytest.importorskip("onnxruntime")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = network.RetinaNetDetector(image_size=128, max_detections=200)
        with torch.no_grad():
            model.head.classification_head.cls_logits.bias.normal_(network.RANDOM_INIT_CLASS_LOGIT, 1.0)
    model.eval()
    images = np.random.default_rng(0).integers(0, 256, size=(2, 3, 128, 128), dtype=np.uint8)
    path = tmp_path / "retinanet128.onnx"
    network.export_onnx(model, path, image_size=128)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        want = [t.numpy() for t in model(torch.from_numpy(images))]
    for batch in (images, images[1:]):
        got = session.run(list(network.OUTPUT_NAMES), {"images": batch})
        ref = [w[-len(batch):] for w in want]
        np.testing.assert_array_equal(got[3], ref[3])
        assert ref[3].min() > 0  # the random network does detect something
        for i, count in enumerate(ref[3]):  # equal scores may come in another order: compare sorted rows
            rows_got = np.column_stack([got[0][i, :count], got[1][i, :count], got[2][i, :count]])
            rows_ref = np.column_stack([ref[0][i, :count], ref[1][i, :count], ref[2][i, :count]])
            rows_got = rows_got[np.lexsort(rows_got.T[::-1])]
            rows_ref = rows_ref[np.lexsort(rows_ref.T[::-1])]
            np.testing.assert_allclose(rows_got, rows_ref, atol=2e-5)
