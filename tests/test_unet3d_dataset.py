"""The KiTS19 reader: demo cases through the real reader and cache, and every bad input named by case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from models.unet3d import MODEL, dataset, demo, preprocess
from models.unet3d.checksum import reference_md5
from models.unet3d.dataset import KitsDataset

COUNT = 2


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kits") / "demo"
    MODEL().write_demo_data(path, COUNT)
    return path


@pytest.fixture
def demo_dir(demo_source: Path, tmp_path: Path) -> Path:
    """A fresh copy per test (tests damage it)."""
    return Path(shutil.copytree(demo_source, tmp_path / "data"))


def _open(data_dir: Path, tmp_path: Path, **kwargs: object) -> KitsDataset:
    return KitsDataset(data_dir, tmp_path / "cache", **kwargs)  # type: ignore[arg-type]


def test_demo_cases_open_through_the_real_reader(demo_dir: Path, tmp_path: Path) -> None:
    ds = _open(demo_dir, tmp_path)
    assert ds.is_demo and ds.total_count == COUNT and ds.sample_ids() == ["case_00000", "case_00001"]
    assert ds.shapes == [(1, 128, 128, 128), (1, 128, 192, 128)]
    image = ds.load_sample(1)["image"]
    label = ds.label(1)
    assert image.shape == label.shape == (1, 128, 192, 128)
    assert image.dtype == np.float32 and label.dtype == np.uint8
    assert set(np.unique(label)) == {0, 1, 2}  # the blob has kidney and tumour
    expected = preprocess.preprocess_case(demo_dir / "case_00001")
    assert np.array_equal(image, expected[0]) and np.array_equal(label, expected[1])
    manifest = json.loads((ds.cache_dir / dataset.MANIFEST).read_text())
    entry = manifest["cases"]["case_00001"]
    assert entry["checksum_verified"] and entry["reference_md5"] == reference_md5(*expected)


def test_demo_checksums_are_the_reference_pickle_md5s(demo_dir: Path) -> None:
    sums = json.loads((demo_dir / dataset.CHECKSUM_FILE).read_text())
    image, label = preprocess.preprocess_case(demo_dir / "case_00000")
    assert sums["case_00000.pkl"] == reference_md5(image, label)


def test_the_cache_is_reused_then_rebuilt_when_damaged_or_changed(demo_dir: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    first = _open(demo_dir, tmp_path)
    capsys.readouterr()
    again = _open(demo_dir, tmp_path)
    assert "preprocessing" not in capsys.readouterr().err
    assert again.cache_dir == first.cache_dir
    # damaged: bytes of a cached volume changed
    cached = first.cache_dir / "case_00001.image.npy"
    raw = bytearray(cached.read_bytes())
    raw[-100:] = bytes(100)
    cached.write_bytes(bytes(raw))
    repaired = _open(demo_dir, tmp_path)
    err = capsys.readouterr().err
    assert "case_00001: preprocessing again (case_00001.image.npy does not match the manifest" in err
    assert "case_00000" not in err
    assert np.array_equal(repaired.load_sample(1)["image"], preprocess.preprocess_case(demo_dir / "case_00001")[0])
    # changed: a raw file rewritten (same voxels, new file)
    image_file = demo_dir / "case_00000" / preprocess.IMAGE_FILE
    image_file.write_bytes(image_file.read_bytes())
    _open(demo_dir, tmp_path)
    assert "case_00000: preprocessing again (its raw files changed)" in capsys.readouterr().err
    # a manifest that is not JSON: everything is rebuilt
    (first.cache_dir / dataset.MANIFEST).write_text("{not json")
    _open(demo_dir, tmp_path)
    assert "preprocessing 2 KiTS19 case(s)" in capsys.readouterr().err


def test_missing_case_is_named(demo_dir: Path, tmp_path: Path) -> None:
    shutil.rmtree(demo_dir / "case_00001")
    with pytest.raises(HarnessError, match=r"1 of the 2 KiTS19 inference cases are missing .*: case_00001") as info:
        _open(demo_dir, tmp_path)
    assert "fetch_kits19.py" in str(info.value)


def test_missing_label_file_is_named(demo_dir: Path, tmp_path: Path) -> None:
    (demo_dir / "case_00001" / preprocess.LABEL_FILE).unlink()
    with pytest.raises(HarnessError, match=r"case_00001 cannot be used: .*segmentation.nii.gz is missing"):
        _open(demo_dir, tmp_path)


@pytest.mark.parametrize("content", [b"this is not a NIfTI file", b""])
def test_a_file_that_is_not_nifti_is_named(demo_dir: Path, tmp_path: Path, content: bytes) -> None:
    (demo_dir / "case_00001" / preprocess.IMAGE_FILE).write_bytes(content)
    with pytest.raises(HarnessError, match=r"case_00001 cannot be used: .*imaging.nii.gz is not a readable NIfTI"):
        _open(demo_dir, tmp_path)


def test_a_truncated_nifti_is_named(demo_dir: Path, tmp_path: Path) -> None:
    path = demo_dir / "case_00000" / preprocess.IMAGE_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(HarnessError, match=r"KiTS19 case case_00000 cannot be used"):
        _open(demo_dir, tmp_path)


def test_shape_mismatch_between_image_and_label_is_named(demo_dir: Path, tmp_path: Path) -> None:
    image, label, spacing = demo.synthetic_case(1)
    demo.write_case(demo_dir / "case_00001", image, label[:, :-1], spacing)
    with pytest.raises(HarnessError, match=r"case_00001 cannot be used: image shape \(60, 160, 130\) does not "
                                           r"match label shape \(60, 159, 130\)"):
        _open(demo_dir, tmp_path)


def test_spacing_mismatch_between_image_and_label_is_named(demo_dir: Path, tmp_path: Path) -> None:
    import nibabel

    image, label, spacing = demo.synthetic_case(1)
    case = demo_dir / "case_00001"
    nibabel.save(nibabel.Nifti1Image(label, demo.kits_affine((spacing[0], 0.9, 0.9))), case / preprocess.LABEL_FILE)
    with pytest.raises(HarnessError, match=r"case_00001 cannot be used: image spacing 3.2 x 1.2 x 1.2 mm does not "
                                           r"match label spacing 3.2 x 0.9 x 0.9 mm"):
        _open(demo_dir, tmp_path)


def test_checksum_mismatch_is_named_and_leaves_no_cache_entry(demo_dir: Path, tmp_path: Path) -> None:
    image, label, spacing = demo.synthetic_case(1)
    image[30, 80, 65] += 100  # a valid NIfTI with one voxel (inside the body, within the clip range) changed
    demo.write_case(demo_dir / "case_00001", image, label, spacing)
    with pytest.raises(HarnessError, match=r"KiTS19 case case_00001: the preprocessed volume's md5 [0-9a-f]{32} "
                                           r"does not match .*checksum_inference.json") as info:
        _open(demo_dir, tmp_path)
    assert "verify_checksums: false" in str(info.value)
    cache = next((tmp_path / "cache").iterdir())
    manifest = json.loads((cache / dataset.MANIFEST).read_text())
    assert sorted(manifest["cases"]) == ["case_00000"]  # the good case is kept, the bad one is not
    assert not list(cache.glob("case_00001*")) and not list(cache.glob("*.partial*"))
    # the check can be turned off; the dataset says so
    unchecked = _open(demo_dir, tmp_path, verify_checksums=False)
    assert unchecked.total_count == 2 and "not checked" in unchecked.notes[0]


def test_real_data_uses_the_shipped_meta(tmp_path: Path) -> None:
    """Without the demo marker the 43 MLPerf cases are required, with the reference's checksums."""
    cases, sums = dataset.read_meta(dataset.META_DIR)
    assert len(cases) == 43 and cases[0] == "case_00000" and cases[-1] == "case_00400"
    assert sums["case_00400"] == sums["case_00185"] == "2ae858449b63e2fe4466c29087540e9c"
    (tmp_path / "kits19" / "case_00000").mkdir(parents=True)
    with pytest.raises(HarnessError, match="42 of the 43 KiTS19 inference cases are missing"):
        _open(tmp_path / "kits19", tmp_path)


def test_unchecked_cases_make_a_run_not_comparable() -> None:
    from models.unet3d import Unet3D, Unet3DOptions

    assert Unet3D().not_comparable_because() == []
    (reason,) = Unet3D(options=Unet3DOptions(verify_checksums=False)).not_comparable_because()
    assert "verify_checksums false" in reason
