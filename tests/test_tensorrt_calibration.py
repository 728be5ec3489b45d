"""INT8 calibration data: the shipped MLPerf list and how it is matched to a dataset (no TensorRT needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from harness.backends.tensorrt import calibration as cal
from harness.errors import HarnessError
from models.resnet50 import ResNet50
from models.resnet50.dataset import ImageNetDataset
from models.resnet50.demo import write_demo_imagenet

# sha256 of calibration/ImageNet/cal_image_list_option_1.txt in the MLCommons inference repository.
MLCOMMONS_LIST_SHA256 = "7662247d1d9407d6cb564268f64c5a4a6cf9f1a34fd2e6cdc3b94dcf278b3dc9"


@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> ImageNetDataset:
    root = tmp_path_factory.mktemp("imagenet")
    write_demo_imagenet(root / "data", 24)
    return ImageNetDataset(root / "data", root / "cache")


def test_resnet50_ships_the_mlperf_list() -> None:
    path = ResNet50().calibration_list_path()
    assert path is not None and path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MLCOMMONS_LIST_SHA256
    names = cal.read_calibration_list(path)
    assert len(names) == 500 and names[0] == "ILSVRC2012_val_00027145.JPEG"


def test_full_match_keeps_list_order() -> None:
    ids = [f"img{i}" for i in range(10)]
    chosen = cal.match_calibration_list(["img7", "img2", "img5"], ids, 10, "list.txt")
    assert chosen.from_list and chosen.indices.tolist() == [7, 2, 5] and not chosen.notes


def test_partial_and_missing_matches_say_so() -> None:
    ids = [f"img{i}" for i in range(10)]
    partial = cal.match_calibration_list(["img1", "img2", "gone"], ids, 10, "list.txt")
    assert not partial.from_list and partial.indices.tolist() == [1, 2] and "only 2 of the 3" in partial.notes[0]
    none = cal.match_calibration_list(["x", "y", "z", "w"], ids, 3, "list.txt")
    assert none.indices.tolist() == [0, 1, 2] and "NOT the MLPerf list" in none.source
    assert "0 of the 4 samples" in none.notes[0]
    unnamed = cal.match_calibration_list(["x"], None, 5, "list.txt")
    assert unnamed.indices.tolist() == [0]


def test_list_file_problems(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="not found"):
        cal.read_calibration_list(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n# comment\n")
    with pytest.raises(HarnessError, match="empty"):
        cal.read_calibration_list(tmp_path / "empty.txt")
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(HarnessError, match="twice"):
        cal.read_calibration_list(tmp_path / "dup.txt")


def test_batches_are_whole() -> None:
    batches = cal.calibration_batches(np.arange(25), 10)
    assert [b.tolist() for b in batches] == [list(range(10)), list(range(10, 20))]
    with pytest.raises(HarnessError, match="do not make one batch"):
        cal.calibration_batches(np.arange(3), 10)
    assert cal.calibration_batch_size(500) == 10
    assert cal.calibration_batch_size(3) == 3


def test_demo_imagenet_falls_back_loudly_and_digest_follows_the_data(demo_dataset: ImageNetDataset) -> None:
    chosen = cal.calibration_set(ResNet50(), demo_dataset)
    # The demo set names its files like ImageNet's first 24 validation images; the list has none of them.
    assert not chosen.from_list and chosen.indices.tolist() == list(range(24))
    assert "demo data?" in chosen.notes[0]
    digest = cal.calibration_digest(chosen, demo_dataset, 8)
    assert digest == cal.calibration_digest(chosen, demo_dataset, 8)
    assert digest != cal.calibration_digest(chosen, demo_dataset, 4)
    reordered = cal.CalibrationSet(chosen.indices[::-1].copy(), chosen.source, False)
    assert digest != cal.calibration_digest(reordered, demo_dataset, 8)


def test_real_names_are_matched_through_sample_ids(demo_dataset: ImageNetDataset) -> None:
    ids = demo_dataset.sample_ids()
    assert ids[0] == "ILSVRC2012_val_00000001.JPEG"
    chosen = cal.match_calibration_list(ids[3:15], ids, demo_dataset.total_count, "list.txt")
    assert chosen.from_list and chosen.indices.tolist() == list(range(3, 15))
