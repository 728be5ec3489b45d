"""The fetch / prepare scripts, run for real up to the download (served from local files here)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from models.resnet50.dataset import ImageNetDataset
from models.resnet50.demo import write_demo_imagenet
from scripts import fetch_weights, prepare_imagenet
from scripts.download import DownloadError, download


def _tar(path: Path, files: dict[str, bytes], mode: str = "w") -> None:
    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_download_verifies_md5_and_leaves_nothing_on_mismatch(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"weights" * 100)
    good = hashlib.md5(source.read_bytes()).hexdigest()
    dest = download(source.as_uri(), tmp_path / "out" / "w.bin", good)
    assert dest.read_bytes() == source.read_bytes()
    try:
        download(source.as_uri(), tmp_path / "out" / "bad.bin", "0" * 32)
    except DownloadError as exc:
        assert "does not match" in str(exc)
    else:
        raise AssertionError("md5 mismatch not detected")
    assert not list((tmp_path / "out").glob("bad.bin*"))


def test_fetch_weights_from_a_mirror_checks_the_published_md5(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "resnet50-19c8e357.pth").write_bytes(b"not the real file")
    code = fetch_weights.main(["--model", "resnet", "--dest", str(tmp_path / "models"), "--base-url", mirror.as_uri()])
    assert code == 1  # a file that is not the published one is refused
    assert not (tmp_path / "models" / "resnet50-19c8e357.pth").exists()


def test_fetch_weights_takes_what_the_model_folder_declares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from models.retinanet import RetinaNet

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "resnext50_32x4d_fpn.pth").write_bytes(b"no published md5 for this one")
    dest = tmp_path / "models"
    assert fetch_weights.main(["--model", "retinanet", "--dest", str(dest), "--base-url", mirror.as_uri()]) == 0
    assert (dest / RetinaNet.weights_files[0].file).read_bytes() == b"no published md5 for this one"
    assert "sha256" in capsys.readouterr().err  # no checksum to check: the digest is shown
    assert fetch_weights.main(["--model", "resnet50", "--kind", "checkpoint"]) == 2  # nothing of that kind
    assert fetch_weights.main(["--model", "nope"]) == 2
    assert fetch_weights.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert "bert/model.onnx" in listed and "(optional)" in listed


def test_prepare_imagenet_builds_a_folder_the_loader_opens(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    write_demo_imagenet(demo, 3)
    names = [line.split()[0] for line in (demo / "val_map.txt").read_text().splitlines()]
    _tar(tmp_path / "ILSVRC2012_img_val.tar", {n: (demo / n).read_bytes() for n in names})
    val_txt = "".join(f"{n} {i * 7}\n" for i, n in enumerate(names)).encode()
    _tar(tmp_path / "caffe_ilsvrc12.tar.gz", {"val.txt": val_txt, "synsets.txt": b"n01440764\n"}, "w:gz")
    dest = tmp_path / "data" / "imagenet"
    code = prepare_imagenet.main(["--val-tar", str(tmp_path / "ILSVRC2012_img_val.tar"), "--skip-md5",
                                  "--labels", (tmp_path / "caffe_ilsvrc12.tar.gz").as_uri(),
                                  "--dest", str(dest), "--expect", "3"])
    assert code == 0
    assert (dest / "val_map.txt").read_bytes() == val_txt
    dataset = ImageNetDataset(dest, tmp_path / "cache")
    assert dataset.total_count == 3 and dataset.labels.tolist() == [0, 7, 14]
    assert dataset.load(np.array([2]))["input"].shape == (1, 3, 224, 224)
    # a second run refuses to touch the finished folder
    assert prepare_imagenet.main(["--val-tar", str(tmp_path / "ILSVRC2012_img_val.tar"), "--skip-md5",
                                  "--labels", str(tmp_path / "caffe_ilsvrc12.tar.gz"), "--dest", str(dest),
                                  "--expect", "3"]) == 1


def test_prepare_imagenet_rejects_a_wrong_tarball(tmp_path: Path) -> None:
    _tar(tmp_path / "ILSVRC2012_img_val.tar", {"x.JPEG": b"x"})
    assert prepare_imagenet.main(["--val-tar", str(tmp_path / "ILSVRC2012_img_val.tar"),
                                  "--dest", str(tmp_path / "out")]) == 2
    assert prepare_imagenet.main(["--val-tar", str(tmp_path / "missing.tar")]) == 2
    assert not (tmp_path / "out").exists()


def test_fetch_squad_refuses_a_file_that_is_not_the_published_one(tmp_path: Path) -> None:
    from scripts import fetch_squad

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "dev-v1.1.json").write_text('{"version": "1.1", "data": []}')
    code = fetch_squad.main(["--dest", str(tmp_path / "squad"), "--base-url", mirror.as_uri()])
    assert code == 1
    assert not list((tmp_path / "squad").glob("dev-v1.1.json*"))


def test_fetch_squad_takes_the_vocab_from_the_package(tmp_path: Path) -> None:
    from scripts import fetch_squad

    dest = tmp_path / "vocab.txt"
    fetch_squad._vocab_from_package(dest)
    assert hashlib.md5(dest.read_bytes()).hexdigest() == fetch_squad.VOCAB_MD5


def test_fetch_bert_weights_checks_the_published_md5(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "model.pytorch").write_bytes(b"not the real checkpoint")
    code = fetch_weights.main(["--model", "bert-99", "--dest", str(tmp_path), "--base-url", mirror.as_uri()])
    assert code == 1
    assert not (tmp_path / "bert" / "model.pytorch").exists()
