"""KiTS19 preprocessing as MLCommons' 3D-UNet reference does it (preprocess.py, global_vars.py).

One case, in order:
1. read imaging.nii.gz / segmentation.nii.gz with nibabel (``get_fdata``, image as float32, label as uint8);
2. resample both to 1.6 x 1.2 x 1.2 mm with ``scipy.ndimage.zoom`` (image order 1, label order 0, mode
   constant with the volume's minimum as cval, grid_mode False), by the factor image spacing / target
   spacing, skipped only when the header's spacing equals the target exactly;
3. clip the image to [-79, 304] and normalise it as (x - 101) / 76.9;
4. edge-pad every axis shorter than the 128 ROI up to 128 (half before, the rest after);
5. per axis, crop when the length mod 64 is under 32, then constant-pad (image -2.2, label 0) up to a
   multiple of 64 that is at least 128, symmetrically (the odd voxel after).

The result is a (1, D, H, W) float32 image and a (1, D, H, W) uint8 label, the arrays the reference
pickles per case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# global_vars.py
MEAN_VAL = 101.0
STDDEV_VAL = 76.9
MIN_CLIP_VAL = -79.0
MAX_CLIP_VAL = 304.0
PADDING_VAL = -2.2
TARGET_SPACING = [1.6, 1.2, 1.2]
ROI_SHAPE = (128, 128, 128)
SLIDE_OVERLAP_FACTOR = 0.5
# Bumped whenever the arrays this module produces change: cached volumes carry it.
PREPROCESS_VERSION = "kits19-ref-v4.1-1"

IMAGE_FILE = "imaging.nii.gz"
LABEL_FILE = "segmentation.nii.gz"


def strides(roi_shape: tuple[int, ...] = ROI_SHAPE, overlap: float = SLIDE_OVERLAP_FACTOR) -> list[int]:
    """The sliding window's step per axis: int(roi * (1 - overlap)) = 64."""
    return [int(r * (1 - overlap)) for r in roi_shape]


class CaseError(ValueError):
    """A case the reader cannot use; the message says why (the caller names the case)."""


@dataclass
class RawCase:
    image: np.ndarray  # (D, H, W) float32, as read
    label: np.ndarray  # (D, H, W) uint8
    spacing: list[float]  # the image header's pixdim[1:4]


def read_case(case_dir: Path) -> RawCase:
    """Both NIfTI files of one case, checked against each other."""
    import nibabel

    volumes: list[Any] = []
    for name in (IMAGE_FILE, LABEL_FILE):
        path = case_dir / name
        if not path.is_file():
            raise CaseError(f"{path} is missing")
        try:
            volumes.append(nibabel.load(path))
        except Exception as exc:  # nibabel raises several types (ImageFileError, gzip / EOF errors)
            raise CaseError(f"{path} is not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    image_nii, label_nii = volumes
    if len(image_nii.shape) != 3 or len(label_nii.shape) != 3:
        raise CaseError(f"expected 3-D volumes, got image {image_nii.shape} and label {label_nii.shape}")
    if image_nii.shape != label_nii.shape:
        raise CaseError(f"image shape {image_nii.shape} does not match label shape {label_nii.shape}")
    spacing = [float(v) for v in image_nii.header["pixdim"][1:4].tolist()]
    label_spacing = [float(v) for v in label_nii.header["pixdim"][1:4].tolist()]
    if not np.allclose(spacing, label_spacing, rtol=1e-4, atol=1e-6):
        raise CaseError(f"image spacing {_mm(spacing)} does not match label spacing {_mm(label_spacing)}")
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise CaseError(f"image spacing {_mm(spacing)} is not positive")
    try:
        image = image_nii.get_fdata().astype(np.float32)
        label = label_nii.get_fdata().astype(np.uint8)
    except Exception as exc:  # truncated gzip data surfaces only here
        raise CaseError(f"cannot read the voxels ({type(exc).__name__}: {exc})") from None
    top = int(label.max()) if label.size else 0
    if top > 2:
        raise CaseError(f"the label holds class {top}; KiTS19 labels are 0 (background), 1 (kidney), 2 (tumour)")
    return RawCase(image, label, spacing)


def _mm(spacing: list[float]) -> str:
    return " x ".join(f"{s:g}" for s in spacing) + " mm"


def resample(image: np.ndarray, label: np.ndarray, spacing: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Both volumes zoomed to TARGET_SPACING (the reference's load_and_resample)."""
    from scipy.ndimage import zoom

    if spacing == TARGET_SPACING:  # the reference compares the header's floats with the target list
        return image, label
    factor = np.array(spacing) / np.array(TARGET_SPACING)
    image = zoom(image, factor, order=1, mode="constant", cval=image.min(), grid_mode=False)
    label = zoom(label, factor, order=0, mode="constant", cval=label.min(), grid_mode=False)
    return image, label


def normalize_intensity(image: np.ndarray) -> np.ndarray:
    image = np.clip(image, MIN_CLIP_VAL, MAX_CLIP_VAL)
    return (image - MEAN_VAL) / STDDEV_VAL


def pad_to_min_shape(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge-pad (1, D, H, W) volumes so every axis is at least the ROI."""
    short = [max(0, ROI_SHAPE[i] - image.shape[1 + i]) for i in range(3)]
    pads = [(0, 0)] + [(s // 2, s - s // 2) for s in short]
    return np.pad(image, pads, mode="edge"), np.pad(label, pads, mode="edge")


def _crop_slices(shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Crop an axis whose remainder mod the stride is under half a stride (split before/after)."""
    step = strides()
    out = [slice(None)]
    for i in range(3):
        rest = shape[1 + i] % step[i]
        cut = rest if rest < step[i] // 2 else 0
        out.append(slice(cut // 2, shape[1 + i] - (cut - cut // 2)))
    return tuple(out)


def _constant_pads(shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """Pad each axis up to a stride multiple that is at least the ROI."""
    step = strides()
    pads = [(0, 0)]
    for i in range(3):
        n = shape[1 + i]
        extra = (step[i] - n % step[i]) % step[i]
        if n + extra < ROI_SHAPE[i]:
            extra += step[i]
        pads.append((extra // 2, extra - extra // 2))
    return pads


def adjust_shape_for_sliding_window(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    crop = _crop_slices(image.shape)
    image, label = image[crop], label[crop]
    pads = _constant_pads(image.shape)
    image = np.pad(image, pads, mode="constant", constant_values=PADDING_VAL)
    label = np.pad(label, pads, mode="constant", constant_values=0)
    return image, label


def preprocess_arrays(image: np.ndarray, label: np.ndarray, spacing: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(D, H, W) raw volumes -> (1, D', H', W') float32 image and uint8 label, as the reference saves them."""
    image, label = resample(image, label, spacing)
    image, label = image[np.newaxis], label[np.newaxis]
    image = normalize_intensity(image.copy())
    image, label = pad_to_min_shape(image, label)
    image, label = adjust_shape_for_sliding_window(image, label)
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(label, dtype=np.uint8)


def preprocess_case(case_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = read_case(case_dir)
    return preprocess_arrays(raw.image, raw.label, raw.spacing)
