"""The sliding-window benchmark command runs and compares like with like (no timing is asserted)."""

from __future__ import annotations

import pytest

from models.unet3d import bench


def test_bench_prints_the_ratio_and_identical_labels(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--network", "elementwise", "--repeats", "1", "--shape", "128,128,192"]) == 0
    out = capsys.readouterr().out
    assert "plain loop (reference algorithm):" in out and "harness sliding window:" in out
    assert "ratio plain / harness:" in out
    assert "labels differing: 0 of 3145728 voxels" in out


def test_bench_refuses_a_volume_smaller_than_a_window() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--shape", "64,128,128"])
