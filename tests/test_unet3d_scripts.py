"""The KiTS19 fetch script (against a local stand-in of neheller/kits19) and the prepare script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from models.unet3d import MODEL
from scripts import fetch_kits19, prepare_kits19

STARTER = '''"""Stand-in for neheller/kits19's starter_code.get_imaging: writes the imaging of two cases."""
from pathlib import Path

for case in ("case_00185", "case_00003"):
    folder = Path("data") / case
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "imaging.nii.gz").write_bytes(b"imaging of " + case.encode())
'''


def _kits_repo(path: Path) -> Path:
    (path / "starter_code").mkdir(parents=True)
    (path / "starter_code" / "__init__.py").write_text("")
    (path / "starter_code" / "get_imaging.py").write_text(STARTER)
    (path / "data" / "case_00185").mkdir(parents=True)
    (path / "data" / "case_00185" / "segmentation.nii.gz").write_bytes(b"labels of case_00185")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "kits"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


def test_fetch_clones_downloads_duplicates_and_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_kits19, "STARTER_NEEDS", ("numpy",))
    repo = _kits_repo(tmp_path / "upstream")
    clone, dest = tmp_path / "root" / "kits19-repo", tmp_path / "root" / "kits19"
    args = ["--repo-url", str(repo), "--repo-dir", str(clone), "--dest", str(dest)]
    assert fetch_kits19.main(args) == 0
    copy = dest / "case_00400"
    assert (copy / "imaging.nii.gz").read_bytes() == b"imaging of case_00185"
    assert (copy / "segmentation.nii.gz").read_bytes() == b"labels of case_00185"
    assert dest.is_symlink() and (dest / "case_00003" / "imaging.nii.gz").is_file()
    assert fetch_kits19.main(args) == 0  # a rerun resumes in the existing clone


def test_fetch_says_what_the_starter_code_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_kits19, "STARTER_NEEDS", ("no_such_module_here",))
    repo = _kits_repo(tmp_path / "upstream")
    with pytest.raises(SystemExit, match="needs no_such_module_here: pip install no_such_module_here"):
        fetch_kits19.main(["--repo-url", str(repo), "--repo-dir", str(tmp_path / "clone"),
                           "--dest", str(tmp_path / "kits19")])


def test_prepare_preprocesses_and_lists_the_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "demo"
    MODEL().write_demo_data(data, 2)
    assert prepare_kits19.main(["--data-dir", str(data), "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr()
    assert "case_00001   128x192x128     2 windows" in out.out
    assert "2 cases (3 windows of 128^3)" in out.err and "checked against the reference's md5s" in out.err
    assert list((tmp_path / "cache" / "preprocessed" / "3d-unet").glob("kits19-2-*/manifest.json"))
    (data / "case_00001" / "imaging.nii.gz").write_bytes(b"broken")
    assert prepare_kits19.main(["--data-dir", str(data), "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "case_00001 cannot be used" in capsys.readouterr().err
