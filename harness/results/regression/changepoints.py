"""Change points over a whole series (ruptures' PELT on a least-squares cost): where a shift began.

The series is scaled by its own run-to-run noise (estimated from successive differences, so a shift
does not inflate it), and a shift is kept only when the levels on its two sides differ by at least the
metric's floor: a run of quiet nights does not produce change points out of tiny wiggles.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first point of the new level
    before: float  # median of the segment before
    after: float  # median of the segment from index on
    change_pct: float


def _noise_scale(values: np.ndarray) -> float:
    """Robust standard deviation of the run-to-run noise: MAD of successive differences / sqrt(2)."""
    diffs = np.diff(values)
    if diffs.size == 0:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return 1.4826 * mad / math.sqrt(2)


def change_points(values: Sequence[float], floor_pct: float = 3.0, min_size: int = 2,
                  penalty: float | None = None) -> list[ChangePoint]:
    """Indices where the series' level shifts by at least ``floor_pct`` percent."""
    import ruptures as rpt

    n = len(values)
    if n < 2 * min_size:
        return []
    signal = np.asarray(values, dtype=float)
    center = float(np.median(signal))
    scale = max(_noise_scale(signal), abs(center) * 1e-3, 1e-12)
    normalized = ((signal - center) / scale).reshape(-1, 1)
    pen = penalty if penalty is not None else 4.0 * math.log(n) + 4.0
    ends = rpt.Pelt(model="l2", min_size=min_size, jump=1).fit(normalized).predict(pen=pen)
    bounds = [0] + [int(e) for e in ends]
    points = []
    for start, cut, end in zip(bounds, bounds[1:], bounds[2:]):
        before = statistics.median(values[start:cut])
        after = statistics.median(values[cut:end])
        change = (after - before) / abs(before) * 100.0 if before else (math.inf if after else 0.0)
        if abs(change) >= floor_pct:
            points.append(ChangePoint(cut, before, after, round(change, 3)))
    return points
