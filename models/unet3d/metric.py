"""DICE for KiTS19 as MLCommons' accuracy_kits.py computes it.

Per case, for class 1 (kidney) and class 2 (tumour) separately (background left out):
    dice = (2 * |pred == c and target == c| + 1e-6) / (|target == c| + |pred == c| + 1e-6)
in float64; the case's composite is the mean of the two. The reported kidney, tumour and mean are
averages of those per-case values over the cases (a NaN counting as 0, as the reference's summary does).
accuracy.txt carries the reference's line: ``Accuracy: mean = 0.86170, kidney = 0.9347, tumor = 0.7887``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.errors import HarnessError
from models.base import check_entries
from models.specs import AccuracyEntry

if TYPE_CHECKING:  # pragma: no cover
    from models.unet3d.dataset import KitsDataset

SMOOTH_NR = 1e-6
SMOOTH_DR = 1e-6
CLASSES = (1, 2)  # kidney, tumour


@dataclass(frozen=True)
class CaseDice:
    case: str
    kidney: float
    tumor: float

    @property
    def composite(self) -> float:
        return float(np.mean([self.kidney, self.tumor]))


def case_dice(case: str, prediction: np.ndarray, target: np.ndarray) -> CaseDice:
    """DICE of one case's uint8 label volumes (same shape)."""
    if prediction.shape != target.shape:
        raise ValueError(f"{case}: prediction {prediction.shape} and ground truth {target.shape} differ in shape")
    scores = []
    for c in CLASSES:
        pred = prediction == c
        true = target == c
        intersection = float(np.count_nonzero(pred & true))
        scores.append((2.0 * intersection + SMOOTH_NR) /
                      (float(np.count_nonzero(true)) + float(np.count_nonzero(pred)) + SMOOTH_DR))
    return CaseDice(case, scores[0], scores[1])


@dataclass(frozen=True)
class DiceSummary:
    cases: tuple[CaseDice, ...]
    kidney: float
    tumor: float
    mean: float

    def report(self) -> str:
        """The lines accuracy_kits.py prints (accuracy.txt, before the hash)."""
        return "\n".join([
            "Loading necessary metadata...",
            "Loading loadgen accuracy log...",
            "Running postprocessing...",
            "Saving predictions...",
            "Running evaluation...",
            "Processing evaluation summary...",
            f"Accuracy: mean = {self.mean:.5f}, kidney = {self.kidney:.4f}, tumor = {self.tumor:.4f}",
            "Done!",
        ])

    def table(self) -> str:
        """summary.csv of the reference: one row per case, then the mean."""
        rows = ["case,kidney,tumor,composite"]
        rows += [f"{c.case},{c.kidney!r},{c.tumor!r},{c.composite!r}" for c in self.cases]
        rows.append(f"mean,{self.kidney!r},{self.tumor!r},{self.mean!r}")
        return "\n".join(rows) + "\n"


def summarize(cases: Mapping[str, CaseDice] | list[CaseDice]) -> DiceSummary:
    items = tuple(cases.values()) if isinstance(cases, Mapping) else tuple(cases)
    if not items:
        return DiceSummary((), 0.0, 0.0, 0.0)

    def mean(values: list[float]) -> float:
        return float(np.mean(np.nan_to_num(np.array(values, dtype=np.float64), nan=0.0)))

    return DiceSummary(items, mean([c.kidney for c in items]), mean([c.tumor for c in items]),
                       mean([c.composite for c in items]))


def score_log(entries: Sequence[AccuracyEntry], dataset: "KitsDataset") -> tuple[DiceSummary, list[str]]:
    """DICE of an accuracy log's label volumes against the dataset's preprocessed ground truth.

    A later record of a sample replaces an earlier one. Cases the log lacks score 0 (accuracy_kits.py
    refuses such a log), so a partial log cannot pass."""
    check_entries(entries, dataset.total_count)
    volumes: dict[int, bytes] = {}
    for entry in entries:
        volumes[entry.qsl_idx] = entry.data
    scores = []
    notes = []
    for index, case in enumerate(dataset.cases):
        shape = dataset.shapes[index][1:]
        data = volumes.get(index)
        if data is None:
            scores.append(CaseDice(case, 0.0, 0.0))
            continue
        expected = int(np.prod(shape))
        if len(data) != expected:
            raise HarnessError(f"{case}: the accuracy log holds {len(data)} bytes, its preprocessed volume "
                               f"{tuple(shape)} has {expected} voxels (uint8 labels)",
                               "score the log against the dataset (and cache) it was run on")
        prediction = np.frombuffer(data, dtype=np.uint8).reshape(shape)
        scores.append(case_dice(case, prediction, dataset.label(index)[0]))
    absent = dataset.total_count - len(volumes)
    if absent:
        notes.append(f"{absent} of {dataset.total_count} cases have no record in the log: scored 0")
    return summarize(scores), notes
