"""The manifest that every preprocessed cache writes last and checks on open (models/cache_check.py)."""

from __future__ import annotations

from pathlib import Path

from models import cache_check


def test_a_manifest_names_what_is_wrong_and_never_raises(tmp_path: Path) -> None:
    data = tmp_path / "images.npy"
    data.write_bytes(bytes(range(256)) * 1000)
    files = cache_check.manifest([data])
    assert cache_check.damage(tmp_path, files) is None
    assert "has no size" in str(cache_check.damage(tmp_path, {"images.npy": {"sampled_sha256": "x"}}))
    assert "unreadable" in str(cache_check.damage(tmp_path, {"images.npy": "junk"}))
    data.write_bytes(bytes(range(256)) * 999)
    assert "bytes" in str(cache_check.damage(tmp_path, files))
    data.unlink()
    assert "missing" in str(cache_check.damage(tmp_path, files))
    assert cache_check.damage(tmp_path, {}) == "it has no manifest of its files"
