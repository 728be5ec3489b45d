"""OpenImages loader, preprocessing cache, demo set, MLPerf weight files and the dataset preparation script."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from harness.errors import HarnessError
from models import get_model_class
from models.retinanet import network
from models.retinanet.classes import MLPERF_CLASSES
from models.retinanet.dataset import ANNOTATIONS, IMAGES_DIR, OpenImagesDataset
from models.retinanet.demo import write_demo_openimages
from scripts import prepare_openimages


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("openimages-demo")
    write_demo_openimages(path, 3)
    return path


def test_registered_under_its_mlperf_names() -> None:
    spec = get_model_class("retinanet")
    assert spec.loadgen_name == "retinanet" and spec.mlperf_names == ("retinanet",)
    assert spec.network is not None and [t.name for t in spec.network.outputs] == list(network.OUTPUT_NAMES)


def test_demo_set_is_in_the_real_format(demo_dir: Path) -> None:
    coco = json.loads((demo_dir / ANNOTATIONS).read_text())
    assert [c["id"] for c in coco["categories"]] == list(range(264))
    assert coco["categories"][83]["name"] == "Egg (Food)" == MLPERF_CLASSES[83]
    names = [image["file_name"] for image in coco["images"]]
    assert names == sorted(names) and [image["id"] for image in coco["images"]] == [1, 2, 3]
    for image in coco["images"]:
        decoded = cv2.imread(str(demo_dir / IMAGES_DIR / image["file_name"]))
        assert decoded.shape[:2] == (image["height"], image["width"])
    for ann in coco["annotations"]:
        assert set(ann) >= {"id", "image_id", "category_id", "bbox", "area", "iscrowd"}


def test_loader_preprocesses_like_the_reference(demo_dir: Path, tmp_path: Path) -> None:
    dataset = OpenImagesDataset(demo_dir, tmp_path / "cache")
    assert dataset.is_demo and dataset.total_count == 3
    batch = dataset.load(np.array([2, 0]))["images"]
    assert batch.shape == (2, 3, 800, 800) and batch.dtype == np.uint8
    # The reference: float32, BGR->RGB, cv2 INTER_LINEAR to 800x800, / 255, CHW.
    bgr = cv2.imread(str(demo_dir / IMAGES_DIR / dataset.files[2])).astype(np.float32)
    reference = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (800, 800),
                           interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1) / 255.0
    assert np.abs(batch[0] / 255.0 - reference).max() <= 0.5 / 255 + 1e-6
    assert dataset.sizes[2].tolist() == list(bgr.shape[:2])
    cache = next((tmp_path / "cache").glob("*/images_u8_nchw.npy"))
    stamp = cache.stat().st_mtime_ns
    again = OpenImagesDataset(demo_dir, tmp_path / "cache")  # reuses the cache
    assert cache.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.load(np.array([0]))["images"][0], batch[1])


def test_missing_images_and_bad_annotations_are_refused(demo_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / IMAGES_DIR).mkdir(parents=True)
    (broken / ANNOTATIONS).parent.mkdir(parents=True)
    (broken / ANNOTATIONS).write_text((demo_dir / ANNOTATIONS).read_text())
    with pytest.raises(HarnessError, match="3 of 3 images .* are missing"):
        OpenImagesDataset(broken, tmp_path / "cache")
    (broken / ANNOTATIONS).write_text("{not json")
    with pytest.raises(HarnessError, match="not valid JSON"):
        OpenImagesDataset(broken, tmp_path / "cache")
    with pytest.raises(HarnessError, match="no annotations"):
        OpenImagesDataset(tmp_path / "nowhere", tmp_path / "cache")


def _training_names(key: str) -> str:
    """torchvision's current parameter names -> those of the MLPerf training model."""
    key = re.sub(r"fpn\.(inner|layer)_blocks\.(\d)\.0\.", r"fpn.\1_blocks.\2.", key)
    return re.sub(r"head\.(classification|regression)_head\.conv\.(\d)\.0\.",
                  lambda m: f"head.{m[1]}_head.conv.{2 * int(m[2])}.", key)


@pytest.fixture(scope="module")
def source_model() -> network.RetinaNetDetector:
    return network.build(None, seed=7)


def test_training_checkpoint_loads(source_model: network.RetinaNetDetector, tmp_path: Path) -> None:
    state = source_model.state_dict()
    renamed = {"module." + _training_names(k): v for k, v in state.items()}
    assert "module.head.classification_head.conv.6.weight" in renamed
    path = tmp_path / "model_10.pth"
    torch.save({"model": renamed, "epoch": 10}, path)
    loaded = network.build(path, seed=0).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_pickled_reference_model_loads_without_its_code(source_model: network.RetinaNetDetector,
                                                        tmp_path: Path) -> None:
    """resnext50_32x4d_fpn.pth is torch.save(model) of the training code's classes: read it without them."""
    package, module = types.ModuleType("model"), types.ModuleType("model.retinanet")
    package.retinanet = module  # type: ignore[attr-defined]

    class RetinaNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = source_model.backbone
            self.head = source_model.head
            self.score_thresh = 0.05

    RetinaNet.__module__ = module.__name__
    RetinaNet.__qualname__ = "RetinaNet"
    module.RetinaNet = RetinaNet  # type: ignore[attr-defined]
    sys.modules.update({"model": package, "model.retinanet": module})
    try:
        torch.save(RetinaNet(), tmp_path / "resnext50_32x4d_fpn.pth")
    finally:
        del sys.modules["model"], sys.modules["model.retinanet"]
    loaded = network.build(tmp_path / "resnext50_32x4d_fpn.pth", seed=0).state_dict()
    assert "model" not in sys.modules
    assert all(torch.equal(loaded[k], v) for k, v in source_model.state_dict().items())


def test_wrong_weight_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "resnet50.pth"
    torch.save(nn.Linear(2, 2).state_dict(), other)
    with pytest.raises(HarnessError, match="does not match MLPerf's RetinaNet"):
        network.build(other, seed=0)
    with pytest.raises(HarnessError, match="ONNX model"):
        network.build(tmp_path / "resnext50_32x4d_fpn.onnx", seed=0)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(HarnessError, match="cannot read weights"):
        network.build(junk, seed=0)


def test_prepare_script_converts_openimages_csvs_to_coco() -> None:
    script = prepare_openimages
    labels = script.label_categories([["/m/0cmf2", "Airplane"], ["/m/x", "Not an MLPerf class"],
                                      ["/m/0dbvp", "Zucchini"]], MLPERF_CLASSES)
    assert labels == {"/m/0cmf2": 0, "/m/0dbvp": 263}

    def row(image: str, label: str, box: tuple[float, float, float, float], group: int = 0) -> dict[str, str]:
        x0, x1, y0, y1 = box
        return {"ImageID": image, "LabelName": label, "XMin": str(x0), "XMax": str(x1), "YMin": str(y0),
                "YMax": str(y1), "IsOccluded": "0", "IsInside": "0", "IsDepiction": "1", "IsTruncated": "0",
                "IsGroupOf": str(group)}

    rows = [row("ff00", "/m/0dbvp", (0.5, 1.0, 0.0, 0.5)), row("0a11", "/m/x", (0, 1, 0, 1)),
            row("0a11", "/m/0cmf2", (0.25, 0.75, 0.5, 1.0), group=1), row("bb22", "/m/x", (0, 1, 0, 1))]
    image_ids = script.select_images(rows, labels, None, None)
    assert image_ids == ["ff00", "0a11"]  # only images with MLPerf classes, first-seen order
    coco = script.build_coco(rows, labels, image_ids, {"ff00": (100, 200), "0a11": (50, 40)}, MLPERF_CLASSES)
    assert [(i["id"], i["file_name"], i["height"], i["width"]) for i in coco["images"]] == [
        (1, "0a11.jpg", 50, 40), (2, "ff00.jpg", 100, 200)]  # numbered in image-id order
    first, second = coco["annotations"]
    assert (first["image_id"], first["category_id"], first["bbox"], first["iscrowd"]) == (1, 0, [10, 25, 20, 25], 1)
    assert (second["image_id"], second["category_id"], second["bbox"]) == (2, 263, [100, 0, 100, 50])
    assert first["area"] == 500 and first["IsDepiction"] == 1
    sampled = script.select_images(rows, labels, 3, 42)
    assert len(sampled) == 3 and set(sampled) <= {"ff00", "0a11"}
    assert sampled == script.select_images(rows, labels, 3, 42)


def test_prepare_script_end_to_end_from_a_mirror(demo_dir: Path, tmp_path: Path) -> None:
    """Download (from file:// URLs), select, convert: the harness then opens what the script wrote."""
    mirror = tmp_path / "mirror"
    (mirror / "validation").mkdir(parents=True)
    coco = json.loads((demo_dir / ANNOTATIONS).read_text())
    header = ("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,"
              "IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside")
    lines = [header]
    for image in coco["images"]:
        image_id = image["file_name"][:-4]
        jpeg = (demo_dir / IMAGES_DIR / image["file_name"]).read_bytes()
        (mirror / "validation" / image["file_name"]).write_bytes(jpeg)
        lines.append(f"{image_id},xclick,/m/0cmf2,1,0.1,0.6,0.2,0.9,0,0,0,0,0")
        lines.append(f"{image_id},xclick,/m/other,1,0,1,0,1,0,0,0,0,0")
    (mirror / "validation-annotations-bbox.csv").write_text("\n".join(lines) + "\n")
    (mirror / "class-descriptions-boxable.csv").write_text("/m/0cmf2,Airplane\n/m/other,Something else\n")
    dest = tmp_path / "openimages"
    assert prepare_openimages.main(["--dataset-dir", str(dest), "--base-url", mirror.as_uri(), "--workers", "2"]) == 0
    dataset = OpenImagesDataset(dest, tmp_path / "cache")
    assert dataset.files == [image["file_name"] for image in coco["images"]]
    written = json.loads((dest / ANNOTATIONS).read_text())
    assert len(written["annotations"]) == 3 and {a["category_id"] for a in written["annotations"]} == {0}
    first = coco["images"][0]
    assert written["annotations"][0]["bbox"] == pytest.approx(
        [0.1 * first["width"], 0.2 * first["height"], 0.5 * first["width"], 0.7 * first["height"]])
    assert prepare_openimages.main(["--dataset-dir", str(tmp_path / "x"), "--base-url",
                                    (tmp_path / "nothing").as_uri()]) == 1


def test_prepare_script_fetches_the_calibration_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [line.strip() for line in prepare_openimages.CALIBRATION_LIST.read_text().splitlines() if line.strip()]
    assert len(names) == len(set(names)) == 500
    short_list = tmp_path / "cal.txt"
    short_list.write_text("\n".join(names[:2]) + "\n")
    monkeypatch.setattr(prepare_openimages, "CALIBRATION_LIST", short_list)
    (tmp_path / "mirror" / "train").mkdir(parents=True)
    for name in names[:2]:
        (tmp_path / "mirror" / "train" / name).write_bytes(b"jpeg")
    dest = tmp_path / "openimages"
    argv = ["--dataset-dir", str(dest), "--calibration", "--base-url", (tmp_path / "mirror").as_uri()]
    assert prepare_openimages.main(argv) == 0
    assert sorted(p.name for p in (dest / "calibration" / "data").iterdir()) == sorted(names[:2])
