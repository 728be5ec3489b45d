"""ResNet50 preprocessing against hand-computed values (the reference's pre_process_vgg)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.resnet50 import preprocess
from models.resnet50.network import ResNet50Top1


def test_resize_targets_follow_the_reference_arithmetic() -> None:
    # shorter side -> int(100 * 224 / 87.5) = 256, longer side int(256 * long / short)
    assert preprocess.RESIZE_SHORT_SIDE == 256
    assert preprocess.resized_shape(375, 500) == (256, 341)
    assert preprocess.resized_shape(500, 375) == (341, 256)
    assert preprocess.resized_shape(333, 500) == (256, 384)
    assert preprocess.resized_shape(256, 256) == (256, 256)
    # centre crop truncates (width - 224) / 2
    assert preprocess.crop_box(256, 341) == (16, 58)
    assert preprocess.crop_box(341, 256) == (58, 16)


def _blocky_bgr(height: int, width: int) -> np.ndarray:
    """An image made of constant 2x2 blocks: INTER_AREA at scale 1/2 returns each block's value exactly."""
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 256, size=(height // 2, width // 2, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1), blocks


def test_square_image_is_halved_cropped_and_swapped_to_rgb() -> None:
    image, blocks = _blocky_bgr(512, 512)
    crop = preprocess.preprocess_bgr_u8(image)
    assert crop.shape == (3, 224, 224) and crop.dtype == np.uint8
    # resized = blocks (256x256), crop starts at (16, 16); channel 0 of the output is R = BGR channel 2
    expected = blocks[16:240, 16:240, ::-1].transpose(2, 0, 1)
    np.testing.assert_array_equal(crop, expected)


def test_landscape_image_crop_offsets() -> None:
    image, blocks = _blocky_bgr(512, 1024)  # -> 256 x 512, crop top 16, left 144
    crop = preprocess.preprocess_bgr_u8(image)
    expected = blocks[16:240, 144:368, ::-1].transpose(2, 0, 1)
    np.testing.assert_array_equal(crop, expected)


def test_float_step_subtracts_the_mlperf_means() -> None:
    crop = np.zeros((1, 3, 224, 224), dtype=np.uint8)
    crop[0, 0, 0, 0] = 200  # R
    crop[0, 1, 5, 7] = 17  # G
    out = preprocess.to_network_input(crop)
    assert out.dtype == np.float32 and out.shape == (1, 3, 224, 224)
    assert out[0, 0, 0, 0] == pytest.approx(200 - 123.68, abs=1e-5)
    assert out[0, 1, 5, 7] == pytest.approx(17 - 116.78, abs=1e-5)
    assert out[0, 2, 100, 100] == pytest.approx(-103.94, abs=1e-5)


def test_network_applies_exactly_the_reference_float_step() -> None:
    """The network's first op on the uint8 crop equals the reference's float32 minus mean, bit for bit."""
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, size=(2, 3, 224, 224), dtype=np.uint8)
    net = ResNet50Top1(torch.nn.Identity())
    on_device = (torch.from_numpy(crops).to(net.mlperf_mean.dtype) - net.mlperf_mean).numpy()
    np.testing.assert_array_equal(on_device, preprocess.to_network_input(crops))


def test_unreadable_file_raises_value_error(tmp_path) -> None:
    bad = tmp_path / "broken.JPEG"
    bad.write_bytes(b"GIF89a not really an image")
    with pytest.raises(ValueError, match="could not decode"):
        preprocess.preprocess_file(str(bad))
    bad.write_bytes(b"\xff\xd8\xff\xe0 a JPEG that stops here")
    with pytest.raises(ValueError, match="cut short"):
        preprocess.preprocess_file(str(bad))
