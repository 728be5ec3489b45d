"""MLPerf RetinaNet preprocessing, as the reference's ``pre_process_openimages_retinanet`` does it.

OpenCV decode (BGR), float32, BGR -> RGB, resize to 800x800 (cv2 INTER_LINEAR, aspect
ratio not kept), / 255, NCHW. The cache keeps the resized pixels as uint8 (rounded to
the nearest integer, so at most 0.5/255 away from the reference's float values) and the
network does the / 255 step on the device: 4x less memory and host-to-device traffic.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.image_cache import read_bgr

IMAGE_SIZE = 800
# Bump when the cached bytes would change.
PREPROCESS_VERSION = "rgb-linear-800-u8chw-v1"


def preprocess_bgr(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """A decoded image (H, W, 3) BGR or (H, W) grey, uint8 -> (3, size, size) uint8 RGB."""
    pixels: np.ndarray = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 1):
        pixels = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR))
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
    rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    resized = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)
    out = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def to_network_input(images_u8: np.ndarray) -> np.ndarray:
    """Cached uint8 images (N, 3, 800, 800) -> the reference's float32 [0, 1] input."""
    return images_u8.astype(np.float32) / np.float32(255.0)


def preprocess_file(path: str) -> np.ndarray:
    """Read an image with OpenCV (as the reference does) and preprocess it; ValueError if unreadable."""
    return preprocess_bgr(read_bgr(path))
