"""Top-1 accuracy as MLCommons' accuracy-imagenet.py computes it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import HarnessError
from models.specs import AccuracyEntry, AccuracyResult

# The accuracy log holds one int32 class index per sample (as NVIDIA's harness
# logs it); MLCommons' accuracy-imagenet.py reads it with --dtype int32.
ACCURACY_LOG_DTYPE = np.int32


def top1_accuracy(entries: Sequence[AccuracyEntry], labels: np.ndarray) -> AccuracyResult:
    """First record per qsl_idx, label == logged index."""
    seen: set[int] = set()
    good = 0
    for entry in entries:
        if entry.qsl_idx in seen:
            continue
        seen.add(entry.qsl_idx)
        found = int(np.frombuffer(entry.data, dtype=ACCURACY_LOG_DTYPE)[0])
        if found == int(labels[entry.qsl_idx]):
            good += 1
    total = len(seen)
    if total == 0:
        raise HarnessError("the accuracy log has no records", "rerun in accuracy mode")
    acc = 100.0 * good / total
    report = f"accuracy={acc:.3f}%, good={good}, total={total}"
    return AccuracyResult(metrics={"acc": acc}, report=report)
