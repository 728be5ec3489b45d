"""KiTS19 DICE against hand-counted voxels, and scoring an accuracy log."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import HarnessError
from models.specs import AccuracyEntry
from models.unet3d.metric import case_dice, score_log, summarize

EPS = 1e-6


def _case() -> tuple[np.ndarray, np.ndarray]:
    """Target: 6 kidney voxels, 2 tumour voxels. Prediction: 6 kidney voxels of which 4 hit,
    3 tumour voxels of which 1 hits (and one tumour voxel predicted as kidney)."""
    target = np.zeros((3, 4, 5), dtype=np.uint8)
    prediction = np.zeros_like(target)
    kidney = [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1)]
    for voxel in kidney:
        target[voxel] = 1
    target[2, 3, 3] = target[2, 3, 4] = 2
    for voxel in kidney[:4] + [(2, 0, 0), (2, 3, 4)]:
        prediction[voxel] = 1
    prediction[2, 3, 3] = prediction[1, 1, 1] = prediction[1, 2, 2] = 2
    return prediction, target


def test_case_dice_by_hand() -> None:
    prediction, target = _case()
    score = case_dice("case_a", prediction, target)
    assert score.kidney == pytest.approx((2 * 4 + EPS) / (6 + 6 + EPS), rel=1e-12)
    assert score.tumor == pytest.approx((2 * 1 + EPS) / (2 + 3 + EPS), rel=1e-12)
    assert score.composite == pytest.approx((8 / 12 + 2 / 5) / 2, rel=1e-6)


def test_absent_class_in_both_scores_one_and_a_miss_scores_near_zero() -> None:
    target = np.zeros((2, 2, 2), dtype=np.uint8)
    target[0, 0, 0] = 1
    empty = case_dice("none", np.zeros_like(target), target)
    assert empty.tumor == 1.0  # (0 + eps) / (0 + 0 + eps)
    assert empty.kidney == pytest.approx(EPS / (1 + EPS))


def test_summary_is_the_mean_over_cases_and_prints_the_reference_line() -> None:
    prediction, target = _case()
    a = case_dice("case_a", prediction, target)
    b = case_dice("case_b", target, target)  # perfect
    summary = summarize([a, b])
    assert summary.kidney == pytest.approx((a.kidney + 1.0) / 2)
    assert summary.tumor == pytest.approx((a.tumor + 1.0) / 2)
    assert summary.mean == pytest.approx((a.composite + 1.0) / 2)
    lines = summary.report().splitlines()
    assert lines[-2] == (f"Accuracy: mean = {summary.mean:.5f}, kidney = {summary.kidney:.4f}, "
                         f"tumor = {summary.tumor:.4f}")
    assert lines[-1] == "Done!"
    assert summary.table().splitlines()[-1].startswith("mean,")


class FakeKits:
    def __init__(self, labels: list[np.ndarray]) -> None:
        self.labels = labels
        self.cases = [f"case_{i:05d}" for i in range(len(labels))]
        self.shapes = [label.shape for label in labels]
        self.total_count = len(labels)

    def label(self, index: int) -> np.ndarray:
        return self.labels[index]


def test_score_log_reads_uint8_volumes_by_qsl_index() -> None:
    prediction, target = _case()
    dataset = FakeKits([target[None], target[None]])
    entries = [AccuracyEntry(1, bytes(target.size)), AccuracyEntry(0, prediction.tobytes()),
               AccuracyEntry(1, target.tobytes())]  # the later record of sample 1 counts
    summary, notes = score_log(entries, dataset)  # type: ignore[arg-type]
    a = case_dice("a", prediction, target)
    assert [c.case for c in summary.cases] == ["case_00000", "case_00001"]
    assert summary.mean == pytest.approx((a.composite + 1.0) / 2)
    assert notes == []


def test_score_log_counts_missing_cases_as_zero() -> None:
    _, target = _case()
    dataset = FakeKits([target[None], target[None]])
    summary, notes = score_log([AccuracyEntry(0, target.tobytes())], dataset)  # type: ignore[arg-type]
    assert summary.mean == pytest.approx(0.5)
    assert "1 of 2 cases have no record" in notes[0]


def test_score_log_refuses_records_that_do_not_fit() -> None:
    _, target = _case()
    dataset = FakeKits([target[None]])
    with pytest.raises(HarnessError, match="case_00000: the accuracy log holds 59 bytes"):
        score_log([AccuracyEntry(0, bytes(59))], dataset)  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="sample 3"):
        score_log([AccuracyEntry(3, target.tobytes())], dataset)  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="no records"):
        score_log([], dataset)  # type: ignore[arg-type]
