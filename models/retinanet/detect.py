"""RetinaNet's detection step, batched and fixed-shape: candidates -> decode -> per-class NMS -> padded output.

It follows MLPerf's RetinaNet (the training reference's ``postprocess_detections``):
per pyramid level the top 1000 (anchor, class) scores, sigmoid, score > 0.05,
box decoding with weights (1, 1, 1, 1) and clipping to the 800x800 image, then
class-wise NMS at IoU 0.5 over all levels, best scores first.

Differences in form, not in result: the whole batch is processed at once, the
candidates are ranked on the logits (the sigmoid is monotonic), and the kept
detections are written into fixed-size tensors (``max_detections`` rows plus a
count per image), so every backend sees the same output shapes. NMS runs as
``torchvision.ops.batched_nms`` in PyTorch (on the GPU when the model is there)
and as ONNX ``NonMaxSuppression`` in an exported graph.
"""

from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

SCORE_THRESHOLD = 0.05
NMS_IOU = 0.5
TOPK_PER_LEVEL = 1000
MAX_DETECTIONS = 1000


def retinanet_anchor_generator() -> AnchorGenerator:
    """Three scales x three aspect ratios per level, sizes 32..512 (RetinaNet's and MLPerf's)."""
    sizes = tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in (32, 64, 128, 256, 512))
    return AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))


def level_shapes(image_size: int) -> list[tuple[int, int]]:
    """Feature map sizes of P3..P7 for a square input (the ResNet / FPN strides with their paddings)."""
    size = (image_size + 2 * 3 - 7) // 2 + 1  # conv1, stride 2
    size = (size + 2 - 3) // 2 + 1  # max pool, stride 2
    shapes = []
    for _ in range(3):  # layer2..layer4 halve the size: P3, P4, P5
        size = (size + 2 - 3) // 2 + 1
        shapes.append((size, size))
    for _ in range(2):  # P6, P7: 3x3 convs with stride 2
        size = (size + 2 - 3) // 2 + 1
        shapes.append((size, size))
    return shapes


def level_anchors(image_size: int) -> list[Tensor]:
    """Anchors per level in (y, x, anchor) order, as torchvision's generator makes them for this input.

    The generator's stride is ``image_size // feature_size``: 61 and 114 (not 64 and 128)
    for P6 and P7 at 800x800, exactly as in the reference model.
    """
    generator = retinanet_anchor_generator()
    images = ImageList(torch.zeros(()).expand(1, 3, image_size, image_size), [(image_size, image_size)])
    features = [torch.zeros(()).expand(1, 1, h, w) for h, w in level_shapes(image_size)]
    anchors = generator(images, features)[0]
    sizes = [h * w * generator.num_anchors_per_location()[0] for h, w in level_shapes(image_size)]
    return list(anchors.split(sizes))


def level_candidates(cls_logits: Tensor, bbox_regression: Tensor, anchors: Tensor, num_classes: int,
                     topk: int, box_coder: BoxCoder, image_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Top-k (anchor, class) pairs of one level from the raw head maps, decoded and clipped.

    ``cls_logits`` is (B, A*K, H, W) and ``bbox_regression`` (B, A*4, H, W) as the head's convolutions
    emit them; indices are decomposed instead of permuting the (large) class map.
    Returns boxes (B, k, 4) as x1, y1, x2, y2 pixels, scores (B, k) after the sigmoid, labels (B, k).
    """
    batch, channels, height, width = cls_logits.shape
    num_anchors = channels // num_classes
    flat = cls_logits.reshape(batch, -1)
    k = min(topk, flat.shape[1])
    top_logits, index = flat.topk(k, dim=1)  # in the network's precision; float32 from here on
    top_logits = top_logits.float()
    plane = height * width
    pixel = index % plane  # y * W + x
    label = (index // plane) % num_classes
    anchor_in_cell = index // (plane * num_classes)
    anchor = pixel * num_anchors + anchor_in_cell  # index into this level's (y, x, anchor) anchors
    regression = bbox_regression.reshape(batch, -1)
    coord = torch.arange(4, device=index.device).view(1, 1, 4)
    reg_index = (anchor_in_cell.unsqueeze(2) * 4 + coord) * plane + pixel.unsqueeze(2)  # (B, k, 4)
    deltas = regression.gather(1, reg_index.reshape(batch, -1)).reshape(-1, 4).float()
    boxes = box_coder.decode_single(deltas, anchors[anchor.reshape(-1)].float())
    boxes = torchvision.ops.clip_boxes_to_image(boxes, (image_size, image_size)).reshape(batch, k, 4)
    return boxes, torch.sigmoid(top_logits), label


class _ClassNms(torch.autograd.Function):
    """Per-image, per-class NMS over (B, N) candidates sorted by score; returns a (B, N) float keep mask.

    PyTorch runs torchvision's batched_nms image by image; ONNX export writes one
    NonMaxSuppression node with a score plane per class (no coordinate offsets).
    """

    @staticmethod
    def forward(ctx: Any, boxes: Tensor, scores: Tensor, labels: Tensor, num_classes: int,
                iou: float, score_threshold: float, max_per_class: int) -> Tensor:
        keep = torch.zeros(scores.shape, dtype=torch.float32, device=scores.device)
        if torch.jit.is_tracing():  # exporting: symbolic() stands in for this node, only the shape counts
            return keep
        for image in range(scores.shape[0]):
            candidates = torch.nonzero(scores[image] > score_threshold).reshape(-1)
            kept = torchvision.ops.batched_nms(boxes[image, candidates], scores[image, candidates],
                                               labels[image, candidates], iou)
            keep[image, candidates[kept[:max_per_class]]] = 1.0
        return keep

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, labels: Any, num_classes: int, iou: float,
                 score_threshold: float, max_per_class: int) -> Any:
        def const(value: Any, dtype: torch.dtype) -> Any:
            return g.op("Constant", value_t=torch.tensor(value, dtype=dtype))

        classes = const(list(range(num_classes)), torch.int64)
        classes = g.op("Reshape", classes, const([1, num_classes, 1], torch.int64))
        is_class = g.op("Equal", g.op("Unsqueeze", labels, const([1], torch.int64)), classes)
        planes = g.op("Mul", g.op("Cast", is_class, to_i=1), g.op("Unsqueeze", scores, const([1], torch.int64)))
        selected = g.op("NonMaxSuppression", boxes, planes, const([max_per_class], torch.int64),
                        const([iou], torch.float32), const([score_threshold], torch.float32))
        image_and_box = g.op("Gather", selected, const([0, 2], torch.int64), axis_i=1)  # (M, 2)
        ones = g.op("Expand", const([1.0], torch.float32),
                    g.op("Slice", g.op("Shape", selected), const([0], torch.int64), const([1], torch.int64)))
        zeros = g.op("Mul", scores, const(0.0, torch.float32))
        return g.op("ScatterND", zeros, image_and_box, ones)


def class_nms(boxes: Tensor, scores: Tensor, labels: Tensor, num_classes: int, iou: float,
              score_threshold: float, max_per_class: int) -> Tensor:
    keep: Tensor = _ClassNms.apply(boxes, scores, labels, num_classes, iou, score_threshold, max_per_class)
    return keep


def pad_detections(boxes: Tensor, scores: Tensor, labels: Tensor, keep: Tensor, max_detections: int,
                   image_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Kept candidates (sorted by score) into fixed-size outputs.

    Returns boxes (B, D, 4) as normalised [ymin, xmin, ymax, xmax] (the accuracy-log order),
    scores (B, D), labels (B, D) int64 and counts (B,) int64; rows past the count are zero.
    """
    batch, count = scores.shape
    rank = (keep.cumsum(1) - 1).long()
    valid = (keep > 0) & (rank < max_detections)
    image = torch.arange(batch, device=scores.device).unsqueeze(1).expand(batch, count)
    dump = batch * max_detections  # one spare slot receives every dropped candidate
    slot = torch.where(valid, image * max_detections + rank, torch.full_like(rank, dump))
    yxyx = boxes[..., [1, 0, 3, 2]] / float(image_size)
    out_boxes = torch.zeros(dump + 1, 4, dtype=torch.float32, device=scores.device)
    out_boxes = out_boxes.scatter(0, slot.reshape(-1, 1).expand(-1, 4), yxyx.reshape(-1, 4))
    out_scores = torch.zeros(dump + 1, dtype=torch.float32, device=scores.device)
    out_scores = out_scores.scatter(0, slot.reshape(-1), scores.reshape(-1))
    out_labels = torch.zeros(dump + 1, dtype=torch.int64, device=scores.device)
    out_labels = out_labels.scatter(0, slot.reshape(-1), labels.reshape(-1))
    counts = valid.sum(1).long()
    return (out_boxes[:dump].reshape(batch, max_detections, 4), out_scores[:dump].reshape(batch, max_detections),
            out_labels[:dump].reshape(batch, max_detections), counts)
