"""The toy's on-disk format: signals.npz (one float32 array per sample, s0, s1, ...) and labels.npz (the
uint8 truth per position, l0, l1, ...), plus the demo marker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER
from harness.errors import HarnessError
from models.base import Dataset


class SignalDataset(Dataset):
    name = "toy signals"

    def __init__(self, data_dir: Path) -> None:
        try:
            with np.load(data_dir / "signals.npz") as signals, np.load(data_dir / "labels.npz") as labels:
                count = len(signals.files)
                self.signals = [signals[f"s{i}"] for i in range(count)]
                self.labels = [labels[f"l{i}"] for i in range(count)]
        except (OSError, KeyError, ValueError) as exc:
            raise HarnessError(f"{data_dir} is not a toy signal dataset: {exc}", "regenerate it with --demo") from None
        self.location = str(data_dir)
        self.is_demo = (data_dir / DEMO_MARKER).exists()

    @property
    def total_count(self) -> int:
        return len(self.signals)

    def load_sample(self, index: int) -> dict[str, np.ndarray]:
        return {"signal": self.signals[index]}
