"""INT8 calibration data: the model's MLPerf calibration list, matched against the dataset.

MLPerf fixes the calibration samples per benchmark (e.g. ImageNet's cal_image_list_option_1.txt,
500 validation images); submitters may calibrate only on those. The list names samples in the
dataset's own terms (file names, question ids), which Dataset.sample_ids() maps to QSL indices.
Pure code: the TensorRT calibrator that feeds these batches is in calibrator.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from models.base import Dataset, ModelSpec

DEFAULT_CALIBRATION_BATCH = 10


@dataclass(frozen=True)
class CalibrationSet:
    indices: np.ndarray  # QSL indices, in list order
    source: str  # what the user is told: where the samples came from
    from_list: bool  # True when every sample is one the MLPerf list names
    notes: tuple[str, ...] = ()


def read_calibration_list(path: Path) -> list[str]:
    """Sample names, one per line (blank lines and # comments skipped)."""
    if not path.is_file():
        raise HarnessError(f"calibration list {path} not found", "restore it from the model folder (git checkout)")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise HarnessError(f"calibration list {path} is empty", "restore it from the model folder (git checkout)")
    if len(set(names)) != len(names):
        raise HarnessError(f"calibration list {path} names some samples twice", "restore the MLCommons list")
    return names


def match_calibration_list(names: Sequence[str], sample_ids: Sequence[str] | None, total_count: int,
                           list_name: str) -> CalibrationSet:
    """QSL indices of the listed samples. With at least half of them present, those; with fewer (demo data),
    the dataset's first samples instead. Both fallbacks are said loudly."""
    found: list[int] = []
    if sample_ids is not None:
        position = {sample_id: i for i, sample_id in enumerate(sample_ids)}
        found = [position[n] for n in names if n in position]
    if len(found) == len(names):
        return CalibrationSet(np.asarray(found, dtype=np.int64), f"MLPerf calibration list {list_name} "
                              f"({len(found)} samples)", True)
    if len(found) * 2 >= len(names):
        note = (f"only {len(found)} of the {len(names)} samples in {list_name} are in this dataset: "
                "calibrating on those (INT8 scales may differ from a full-list calibration)")
        return CalibrationSet(np.asarray(found, dtype=np.int64), f"{len(found)} samples of {list_name}", False,
                              (note,))
    count = min(len(names), total_count)
    note = (f"{len(found)} of the {len(names)} samples in {list_name} are in this dataset (demo data?): "
            f"calibrating on its first "
            f"{count} samples; the INT8 engine's accuracy says nothing about a real calibration")
    return CalibrationSet(np.arange(count, dtype=np.int64), f"first {count} dataset samples (NOT the MLPerf list)",
                          False, (note,))


def calibration_set(model: ModelSpec, dataset: Dataset) -> CalibrationSet:
    path = model.calibration_list_path()
    if path is None:
        count = min(500, dataset.total_count)
        return CalibrationSet(np.arange(count, dtype=np.int64), f"first {count} dataset samples", False,
                              (f"{model.name} declares no MLPerf calibration list: calibrating on the first "
                               f"{count} samples",))
    return match_calibration_list(read_calibration_list(path), dataset.sample_ids(), dataset.total_count,
                                  path.name)


def calibration_batches(indices: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Whole batches of ``batch_size`` (the calibration profile has one fixed shape); a short tail is dropped."""
    if batch_size < 1:
        raise HarnessError(f"calibration batch size must be >= 1, got {batch_size}")
    full = len(indices) // batch_size
    if full == 0:
        raise HarnessError(f"{len(indices)} calibration samples do not make one batch of {batch_size}",
                           "use a dataset with more samples (or a smaller batch_size)")
    return [indices[i * batch_size : (i + 1) * batch_size] for i in range(full)]


def calibration_batch_size(sample_count: int) -> int:
    """Calibration has its own optimization profile, so its batch does not depend on the run's batch
    size: the same samples in the same batches give one calibration cache for every engine."""
    return max(1, min(DEFAULT_CALIBRATION_BATCH, sample_count))


def calibration_digest(cal: CalibrationSet, dataset: Dataset, batch_size: int) -> str:
    """Identifies the calibration input: the samples' bytes, their order and the batch size."""
    digest = hashlib.sha256(f"batch={batch_size};from_list={cal.from_list};".encode())
    digest.update(np.ascontiguousarray(cal.indices).tobytes())
    for start in range(0, len(cal.indices), 256):
        arrays = dataset.load(cal.indices[start : start + 256])
        for name in sorted(arrays):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()
