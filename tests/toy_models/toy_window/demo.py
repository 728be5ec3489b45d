"""Demo signals of different lengths: smooth random curves in [0, 1] and their step labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER


def write_signals(dest: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    signals, labels = {}, {}
    for i in range(count):
        length = int(rng.integers(9, 70))
        curve = np.convolve(rng.random(length + 4), np.ones(5) / 5, mode="valid")[:length]
        signals[f"s{i}"] = curve.astype(np.float32)
        labels[f"l{i}"] = (curve > 0.5).astype(np.uint8)
    dest.mkdir(parents=True, exist_ok=True)
    np.savez(dest / "signals.npz", **signals)
    np.savez(dest / "labels.npz", **labels)
    (dest / DEMO_MARKER).write_text("generated toy signals\n")
