"""MLPerf RetinaNet: ResNeXt50-32x4d + FPN (P3-P7), 9 anchors per cell, 264 OpenImages classes.

Built from torchvision's blocks with the structure of the MLPerf training reference
(``retinanet_resnext50_32x4d_fpn``: frozen batch norm, returned layers 2-4, P6/P7 from P5,
ImageNet mean/std normalisation of [0, 1] input). The attribute names ``backbone`` and
``head`` match that model, so its state dict loads (see checkpoint.py).

The input is the cached 800x800 RGB image as uint8 NCHW; the first op is MLPerf's
float step (/255) fused with the model's normalisation. The outputs are fixed-shape
detections (see detect.py): boxes (B, 1000, 4) normalised [ymin, xmin, ymax, xmax],
scores (B, 1000), labels (B, 1000) and the count per image.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from models.retinanet import checkpoint, detect

NUM_CLASSES = 264
IMAGE_SIZE = 800
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
OUTPUT_NAMES = ("boxes", "scores", "labels", "count")
# Part of the exported file's name: bump when the graph would change.
GRAPH_VERSION = "g1"
# log(0.05 / 0.95): the score threshold as a logit.
RANDOM_INIT_CLASS_LOGIT = -2.944


class RetinaNetDetector(nn.Module):
    scale: Tensor
    shift: Tensor

    def __init__(self, num_classes: int = NUM_CLASSES, image_size: int = IMAGE_SIZE,
                 max_detections: int = detect.MAX_DETECTIONS, frozen_bn_eps: float = 1e-5) -> None:
        super().__init__()
        trunk = torchvision.models.resnext50_32x4d(
            weights=None, norm_layer=lambda c: FrozenBatchNorm2d(c, eps=frozen_bn_eps))
        self.backbone = _resnet_fpn_extractor(trunk, 5, returned_layers=[2, 3, 4],
                                              extra_blocks=LastLevelP6P7(256, 256))
        anchors = detect.level_anchors(image_size)
        num_anchors = detect.retinanet_anchor_generator().num_anchors_per_location()[0]
        self.head = RetinaNetHead(self.backbone.out_channels, num_anchors, num_classes)
        self.num_classes = num_classes
        self.image_size = image_size
        self.max_detections = max_detections
        self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        for level, level_anchors in enumerate(anchors):
            self.register_buffer(f"anchors_p{level + 3}", level_anchors, persistent=False)
        self._levels = len(anchors)
        mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
        # ((x / 255) - mean) / std == x * scale + shift
        self.register_buffer("scale", 1.0 / (255.0 * std), persistent=False)
        self.register_buffer("shift", -mean / std, persistent=False)

    def level_anchors(self) -> list[Tensor]:
        return [getattr(self, f"anchors_p{level + 3}") for level in range(self._levels)]

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = images.to(self.scale.dtype) * self.scale + self.shift
        features = list(self.backbone(x).values())
        cls_head, reg_head = self.head.classification_head, self.head.regression_head
        boxes, scores, labels = [], [], []
        for feature, anchors in zip(features, self.level_anchors()):
            logits = cls_head.cls_logits(cls_head.conv(feature))
            regression = reg_head.bbox_reg(reg_head.conv(feature))
            b, s, lab = detect.level_candidates(logits, regression, anchors, self.num_classes,
                                                detect.TOPK_PER_LEVEL, self.box_coder, self.image_size)
            boxes.append(b)
            scores.append(s)
            labels.append(lab)
        all_scores, order = torch.cat(scores, 1).sort(dim=1, descending=True)
        all_boxes = torch.cat(boxes, 1).gather(1, order.unsqueeze(2).expand(-1, -1, 4))
        all_labels = torch.cat(labels, 1).gather(1, order)
        keep = detect.class_nms(all_boxes, all_scores, all_labels, self.num_classes, detect.NMS_IOU,
                                detect.SCORE_THRESHOLD, self.max_detections)
        return detect.pad_detections(all_boxes, all_scores, all_labels, keep, self.max_detections,
                                     self.image_size)


def build(weights: Path | None, seed: int) -> RetinaNetDetector:
    """The detector in fp32 eval mode: MLPerf PyTorch weights when given, else seeded random init."""
    if weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = RetinaNetDetector()
            # RetinaNet starts every class at a 1% prior, below the 0.05 score threshold, so an
            # untrained network would detect nothing. Spread the class biases around the threshold
            # instead: random weights then yield detections and exercise decoding, NMS and the metric.
            bias = model.head.classification_head.cls_logits.bias
            with torch.no_grad():
                bias.normal_(RANDOM_INIT_CLASS_LOGIT, 1.0)
        return model.eval()
    state, eps = checkpoint.load_mlperf_state(weights)
    model = RetinaNetDetector(frozen_bn_eps=eps)
    checkpoint.apply_state(model, state, weights)
    return model.eval()


def export_onnx(module: nn.Module, path: Path, opset: int = 17, image_size: int = IMAGE_SIZE) -> None:
    """Export with a dynamic batch dimension to one self-contained file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.onnx")
    example = torch.from_numpy(np.zeros((1, 3, image_size, image_size), dtype=np.uint8))
    with torch.inference_mode(), warnings.catch_warnings():
        # The trace is fixed for one image size by design (the anchors are constants).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(partial), input_names=["images"], output_names=list(OUTPUT_NAMES),
            dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in OUTPUT_NAMES}},
            opset_version=opset, dynamo=False,
        )
    partial.replace(path)
