"""Sliding-window geometry and the Gaussian importance map, as MLCommons' inference_utils.py defines them.

Windows are ROI-sized (128^3) and step by int(128 * (1 - 0.5)) = 64 voxels. Along an axis of n voxels
they start at 0, 64, ... for (n - 128) // 64 + 1 windows; preprocessed volumes are multiples of 64 and
at least 128, so the windows tile them exactly. They are visited z-major (then y, then x), the order in
which the reference accumulates them (float sums depend on it).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from models.unet3d.preprocess import ROI_SHAPE, SLIDE_OVERLAP_FACTOR, strides

# sigma = 0.125 * ROI (inference_utils.prepare_arrays)
SIGMA_SCALE = 0.125


def window_counts(shape: tuple[int, ...], roi: tuple[int, ...] = ROI_SHAPE,
                  overlap: float = SLIDE_OVERLAP_FACTOR) -> list[int]:
    """Windows per axis for a (D, H, W) volume."""
    step = strides(roi, overlap)
    return [(shape[i] - roi[i]) // step[i] + 1 for i in range(3)]


def window_starts(shape: tuple[int, ...], roi: tuple[int, ...] = ROI_SHAPE,
                  overlap: float = SLIDE_OVERLAP_FACTOR) -> list[tuple[int, int, int]]:
    """(z, y, x) corner of every window, in the reference's order."""
    step = strides(roi, overlap)
    counts = window_counts(shape, roi, overlap)
    return [(i * step[0], j * step[1], k * step[2])
            for i in range(counts[0]) for j in range(counts[1]) for k in range(counts[2])]


@lru_cache(maxsize=4)
def gaussian_importance_map(n: int = ROI_SHAPE[0], sigma_scale: float = SIGMA_SCALE) -> np.ndarray:
    """(n, n, n) float32 patch weights: the cube root of the 3-D outer product of a 1-D Gaussian window
    (scipy.signal.windows.gaussian, std sigma_scale * n), scaled to a maximum of 1; read-only."""
    from scipy.signal import windows

    g1 = windows.gaussian(n, sigma_scale * n)
    g3 = np.outer(np.outer(g1, g1), g1).reshape(n, n, n)
    g3 = np.cbrt(g3)
    g3 /= g3.max()
    out = g3.astype(np.float32)
    out.setflags(write=False)
    return out
