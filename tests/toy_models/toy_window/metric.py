"""Accuracy: the share of positions whose logged label equals the truth, over every sample logged once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import HarnessError
from models.base import AccuracyEntry, AccuracyResult, Dataset


def position_accuracy(entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
    truth = dataset.labels  # type: ignore[attr-defined]
    seen: dict[int, np.ndarray] = {}
    for entry in entries:
        seen.setdefault(entry.qsl_idx, np.frombuffer(entry.data, dtype=np.uint8))
    if not seen:
        raise HarnessError("the accuracy log has no records", "rerun in accuracy mode")
    good = total = 0
    for index, labels in seen.items():
        if len(labels) != len(truth[index]):
            raise HarnessError(f"sample {index}: {len(labels)} labels logged for {len(truth[index])} positions")
        good += int((labels == truth[index]).sum())
        total += len(labels)
    accuracy = 100.0 * good / total
    return AccuracyResult({"accuracy": accuracy}, f"accuracy={accuracy:.3f}%, positions={total}, samples={len(seen)}")
