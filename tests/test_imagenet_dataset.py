"""The ImageNet reader, its preprocessed cache, the demo generator and the top-1 metric."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.errors import HarnessError
from models.base import AccuracyEntry
from models.resnet50 import ResNet50, preprocess
from models.resnet50.dataset import DEMO_MARKER, ImageNetDataset, read_val_map
from models.resnet50.demo import write_demo_imagenet
from models.resnet50.metric import top1_accuracy


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("imagenet")
    write_demo_imagenet(path, 12)
    return path


def test_demo_set_is_real_jpegs_with_a_val_map(demo_dir: Path) -> None:
    files, labels = read_val_map(demo_dir / "val_map.txt")
    assert len(files) == 12 and labels.dtype == np.int32
    assert all(0 <= label < 1000 for label in labels)
    assert (demo_dir / DEMO_MARKER).is_file()
    for name in files:
        assert (demo_dir / name).read_bytes()[:2] == b"\xff\xd8"  # JPEG SOI marker
        assert cv2.imread(str(demo_dir / name)) is not None


def test_dataset_preprocesses_once_and_loads_crops(demo_dir: Path, tmp_path: Path) -> None:
    dataset = ImageNetDataset(demo_dir, tmp_path / "cache")
    assert dataset.is_demo and dataset.total_count == 12
    batch = dataset.load(np.array([3, 0, 3]))["input"]
    assert batch.shape == (3, 3, 224, 224) and batch.dtype == np.uint8
    expected = preprocess.preprocess_file(str(demo_dir / dataset.files[3]))
    np.testing.assert_array_equal(batch[0], expected)
    np.testing.assert_array_equal(batch[2], expected)
    cache_file = dataset.cache_dir / "crops_u8_nchw.npy"
    stamp = cache_file.stat().st_mtime_ns
    again = ImageNetDataset(demo_dir, tmp_path / "cache")
    assert again.cache_dir == dataset.cache_dir and cache_file.stat().st_mtime_ns == stamp


def test_changed_val_map_gets_a_new_cache(demo_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "subset"
    copy.mkdir()
    lines = (demo_dir / "val_map.txt").read_text().splitlines()[:5]
    for line in lines:
        name = line.split()[0]
        (copy / name).write_bytes((demo_dir / name).read_bytes())
    (copy / "val_map.txt").write_text("\n".join(lines) + "\n")
    first = ImageNetDataset(copy, tmp_path / "cache")
    (copy / "val_map.txt").write_text("\n".join(lines[:4]) + "\n")
    second = ImageNetDataset(copy, tmp_path / "cache")
    assert second.total_count == 4 and second.cache_dir != first.cache_dir


def test_malformed_val_map_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "val_map.txt").write_text("a.JPEG 1\nb.JPEG not-a-label\n")
    with pytest.raises(HarnessError, match=r"val_map.txt:2"):
        read_val_map(tmp_path / "val_map.txt")


def test_missing_images_are_reported_with_a_fix(tmp_path: Path) -> None:
    (tmp_path / "val_map.txt").write_text("missing.JPEG 3\n")
    with pytest.raises(HarnessError) as info:
        ImageNetDataset(tmp_path, tmp_path / "cache")
    assert "missing" in info.value.message and info.value.fix


def test_corrupt_image_names_the_file_and_leaves_no_cache(demo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.JPEG").write_bytes((demo_dir / read_val_map(demo_dir / "val_map.txt")[0][0]).read_bytes())
    (data / "bad.JPEG").write_bytes(b"\xff\xd8\xff garbage")
    (data / "val_map.txt").write_text("ok.JPEG 1\nbad.JPEG 2\n")
    with pytest.raises(HarnessError, match="bad.JPEG"):
        ImageNetDataset(data, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*/meta.json"))


def test_top1_matches_accuracy_imagenet_semantics() -> None:
    labels = np.array([5, 7, 9, 11], dtype=np.int32)

    def entry(idx: int, found: int) -> AccuracyEntry:
        return AccuracyEntry(idx, np.array([found], dtype=np.int32).tobytes())

    # index 0 right, 1 wrong, 2 right; a duplicate of index 1 (right this time) is ignored like the script does
    result = top1_accuracy([entry(0, 5), entry(1, 8), entry(2, 9), entry(1, 7)], labels)
    assert result.metrics["acc"] == pytest.approx(200 / 3)
    assert result.report == "accuracy=66.667%, good=2, total=3"


def test_postprocess_applies_the_label_offset() -> None:
    model = ResNet50()
    out = model.postprocess({"argmax": np.array([1, 2, 999], dtype=np.int64)}, np.arange(3))
    assert [int(np.frombuffer(out.sample_bytes(i), np.int32)[0]) for i in range(3)] == [1, 2, 999]
    model.label_offset = -1  # the 1001-class MLPerf ONNX model
    out = model.postprocess({"argmax": np.array([1, 2, 1000], dtype=np.int64)}, np.arange(3))
    assert [int(np.frombuffer(out.sample_bytes(i), np.int32)[0]) for i in range(3)] == [0, 1, 999]
