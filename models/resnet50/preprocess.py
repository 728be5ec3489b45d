"""MLPerf ResNet50 preprocessing, as the reference's ``pre_process_vgg`` does it.

BGR -> RGB, aspect-preserving resize so the shorter side is 256 (OpenCV INTER_AREA),
centre crop 224x224, float32, subtract the per-channel mean [123.68, 116.78, 103.94],
NCHW. The crop is kept as uint8 in the cache (exact: the reference converts the
same uint8 pixels to float32 before subtracting), the float step runs at load time.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.image_cache import read_bgr

OUTPUT_SIZE = 224
# The reference scales the crop size by 100 / 87.5 to get the resize target: 256.
RESIZE_SHORT_SIDE = int(100.0 * OUTPUT_SIZE / 87.5)
MEAN_RGB = np.array([123.68, 116.78, 103.94], dtype=np.float32)
# Bump when the cached bytes would change.
PREPROCESS_VERSION = "vgg-area-256-crop224-u8chw-v1"


def resized_shape(height: int, width: int) -> tuple[int, int]:
    """(height, width) after the aspect-preserving resize of the shorter side to 256."""
    if height > width:
        return int(RESIZE_SHORT_SIDE * height / width), RESIZE_SHORT_SIDE
    return RESIZE_SHORT_SIDE, int(RESIZE_SHORT_SIDE * width / height)


def crop_box(height: int, width: int, size: int = OUTPUT_SIZE) -> tuple[int, int]:
    """(top, left) of the centre crop, truncating like the reference."""
    return int((height - size) / 2), int((width - size) / 2)


def preprocess_bgr_u8(image_bgr: np.ndarray) -> np.ndarray:
    """A decoded BGR image (H, W, 3) uint8 -> the centre crop as RGB uint8, CHW (3, 224, 224)."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {image_bgr.shape}")
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    new_h, new_w = resized_shape(*rgb.shape[:2])
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    top, left = crop_box(new_h, new_w)
    crop = resized[top : top + OUTPUT_SIZE, left : left + OUTPUT_SIZE]
    return np.ascontiguousarray(crop.transpose(2, 0, 1))


def to_network_input(crops_u8_chw: np.ndarray) -> np.ndarray:
    """Cached uint8 crops (N, 3, 224, 224) -> float32 mean-subtracted network input."""
    out = crops_u8_chw.astype(np.float32)
    out -= MEAN_RGB[None, :, None, None]
    return out


def preprocess_file(path: str) -> np.ndarray:
    """Read a JPEG with OpenCV (as the reference does) and preprocess it; ValueError if unreadable."""
    return preprocess_bgr_u8(read_bgr(path))
