"""A small ImageNet-format demo set: real JPEG files and a val_map.txt with known labels.

The pictures are procedural (gradients, shapes, noise) in the sizes and aspect
ratios ImageNet has, so decoding, resizing and cropping take every code path the
real set takes. Labels are drawn at random, so even a trained network scores
near chance (0.1%) on it: the number proves the metric runs, not the model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.resnet50.dataset import DEMO_MARKER

# (width, height) pairs seen in ImageNet validation, landscape and portrait.
_SIZES = ((500, 375), (375, 500), (500, 333), (333, 500), (500, 500), (640, 480), (300, 225), (256, 256))


def _picture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, size=3).astype(np.float32)
    slope = rng.uniform(-0.4, 0.4, size=(3, 2)).astype(np.float32)
    image = np.empty((height, width, 3), dtype=np.float32)
    for c in range(3):
        image[..., c] = base[c] + slope[c, 0] * xx + slope[c, 1] * yy
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            radius = int(rng.integers(10, max(11, min(width, height) // 3)))
            cv2.circle(image, centre, radius, colour, thickness=-1)
        else:
            corner = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.rectangle(image, centre, corner, colour, thickness=-1)
    noise = rng.normal(0, 8, size=image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def write_demo_imagenet(dest: Path, count: int, seed: int = 2012) -> None:
    """Write ``count`` JPEGs named like ImageNet validation files plus val_map.txt into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(1, count + 1):
        width, height = _SIZES[int(rng.integers(0, len(_SIZES)))]
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        if not cv2.imwrite(str(dest / name), _picture(rng, width, height), [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"could not write {dest / name}")
        lines.append(f"{name} {int(rng.integers(0, 1000))}\n")
    (dest / "val_map.txt").write_text("".join(lines))
    (dest / DEMO_MARKER).write_text(
        "Generated demo data in the ImageNet validation format (procedural pictures, random labels).\n"
        "It exercises the real loader, preprocessing and accuracy metric; its accuracy means nothing.\n"
    )
