"""3D-UNet preprocessing against hand-computed values, and the reference's pickle checksum."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.unet3d import preprocess
from models.unet3d.checksum import reference_md5, reference_pickle_bytes


def _hu(value: float) -> np.float32:
    """A HU value clipped to [-79, 304] and normalised as (x - 101) / 76.9, in float32."""
    return np.float32((np.float32(min(max(value, -79.0), 304.0)) - 101.0) / 76.9)


def test_normalisation_values() -> None:
    image = np.array([[[-1000.0, -79.0, 0.0, 101.0, 304.0, 2000.0]]], dtype=np.float32)
    out = preprocess.normalize_intensity(image)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [-180 / 76.9, -180 / 76.9, -101 / 76.9, 0.0, 203 / 76.9, 203 / 76.9],
                               rtol=1e-6)


def test_pad_and_crop_geometry_by_hand() -> None:
    """(100, 150, 170) at the target spacing (no resampling):
    z 100 -> edge-padded 14 + 14 to 128; y 150 (150 % 64 = 22 < 32) -> cropped 11 + 11 to 128;
    x 170 (170 % 64 = 42) -> kept, constant-padded 11 + 11 to 192 with -2.2 (label 0)."""
    image = np.zeros((100, 150, 170), dtype=np.float32)
    label = np.zeros((100, 150, 170), dtype=np.uint8)
    image[0, 11, 0], label[0, 11, 0] = 300.0, 1
    image[99, 138, 169], label[99, 138, 169] = -50.0, 2
    image[50, 5, 50] = 250.0  # in the cropped-away band of y
    out, lab = preprocess.preprocess_arrays(image, label, list(preprocess.TARGET_SPACING))
    assert out.shape == lab.shape == (1, 128, 128, 192)
    assert out.dtype == np.float32 and lab.dtype == np.uint8
    # x padding
    assert np.all(out[0, :, :, :11] == np.float32(-2.2)) and np.all(out[0, :, :, 181:] == np.float32(-2.2))
    assert np.all(lab[0, :, :, :11] == 0) and np.all(lab[0, :, :, 181:] == 0)
    # raw (0, 11, 0): z edge copies 0..14, y 11 - 11 = 0, x 0 + 11 = 11
    assert np.all(out[0, :15, 0, 11] == _hu(300.0)) and out[0, 15, 0, 11] == _hu(0.0)
    assert np.all(lab[0, :15, 0, 11] == 1) and lab[0, 15, 0, 11] == 0
    # raw (99, 138, 169): z 99 + 14 = 113 and its edge copies up to 127, y 127, x 180
    assert np.all(out[0, 113:, 127, 180] == _hu(-50.0)) and out[0, 112, 127, 180] == _hu(0.0)
    assert np.all(lab[0, 113:, 127, 180] == 2)
    # everything else is tissue at 0 HU; the y band cropped away held the 250 HU voxel
    inside = out[0, :, :, 11:181]
    assert np.count_nonzero(inside != _hu(0.0)) == 15 + 15
    assert not np.any(out == _hu(250.0))
    assert np.count_nonzero(lab) == 30


def test_small_axes_are_edge_padded_then_constant_padded() -> None:
    """(40, 128, 200): z 40 -> edge 44 + 44; x 200 % 64 = 8 -> cropped 4 + 4 to 192."""
    image = np.full((40, 128, 200), 101.0, dtype=np.float32)
    image[:, :, 4] = 304.0
    label = np.zeros(image.shape, dtype=np.uint8)
    out, _ = preprocess.preprocess_arrays(image, label, list(preprocess.TARGET_SPACING))
    assert out.shape == (1, 128, 128, 192)
    assert np.all(out[0, :, :, 0] == _hu(304.0))  # raw x = 4 becomes x = 0 after the crop
    assert np.all(out[0, :, :, 1:] == np.float32(0.0))  # 101 HU normalises to 0; z edge copies too


def test_resampling_by_hand() -> None:
    """Spacing (3.2, 1.2, 1.2) as float32 header values: z doubles (linear: 0, 10, 20, 30; nearest:
    1, 1, 2, 2), y and x stay (factor 1.2f / 1.2, one voxel more than 1 only after rounding)."""
    spacing = [float(np.float32(v)) for v in (3.2, 1.2, 1.2)]
    image = np.zeros((2, 2, 2), dtype=np.float32)
    image[1] = 30.0
    label = np.ones((2, 2, 2), dtype=np.uint8)
    label[1] = 2
    out, lab = preprocess.resample(image, label, spacing)
    assert out.shape == lab.shape == (4, 2, 2)
    np.testing.assert_allclose(out[:, 0, 0], [0.0, 10.0, 20.0, 30.0], rtol=0, atol=1e-5)
    assert lab[:, 1, 1].tolist() == [1, 1, 2, 2]


def test_exact_target_spacing_skips_resampling() -> None:
    image = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    label = np.zeros((3, 4, 5), dtype=np.uint8)
    out, lab = preprocess.resample(image, label, [1.6, 1.2, 1.2])
    assert out is image and lab is label


def _pair(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    n = int(np.prod(shape))
    image = (np.arange(n, dtype=np.float32).reshape(shape) / 7).astype(np.float32)
    label = (np.arange(n) % 3).astype(np.uint8).reshape(shape)
    return image, label


@pytest.mark.parametrize(("shape", "md5"), [
    # pickle.dumps([image, label]) under Python 3.11 / NumPy 1.26, the reference's format
    ((1, 2, 3, 4), "f23180b4bc9fd1dda63bea497c3b75b7"),
    ((1, 300, 2, 2), "ca776736cc5f6a445134d07b26e55a39"),
    ((1, 64, 64, 80), "e633641db73aa8b15f18c7cca9a763b7"),  # arrays written outside pickle frames
])
def test_reference_pickle_md5(shape: tuple[int, ...], md5: str) -> None:
    image, label = _pair(shape)
    assert reference_md5(image, label) == md5
    back = pickle.loads(reference_pickle_bytes(image, label))
    assert np.array_equal(back[0], image) and back[0].dtype == np.float32
    assert np.array_equal(back[1], label) and back[1].dtype == np.uint8


def test_reference_md5_sees_one_voxel() -> None:
    image, label = _pair((1, 2, 3, 4))
    label[0, 1, 2, 3] ^= 1
    assert reference_md5(image, label) != "f23180b4bc9fd1dda63bea497c3b75b7"
