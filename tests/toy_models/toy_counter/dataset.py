"""Prompts on disk: prompts.npy, an int32 array of (target, start) rows, plus the demo marker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER
from harness.errors import HarnessError
from models.base import Dataset


def expected_tokens(prompt: np.ndarray) -> np.ndarray:
    target, start = int(prompt[0]), int(prompt[1])
    return np.arange(start + 1, target + 1, dtype=np.int32)


def write_prompts(dest: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    starts = rng.integers(1, 10, size=count)
    lengths = rng.integers(1, 15, size=count)  # counts of 1 to 14 tokens: samples finish at different steps
    dest.mkdir(parents=True, exist_ok=True)
    np.save(dest / "prompts.npy", np.stack([starts + lengths, starts], axis=1).astype(np.int32))
    (dest / DEMO_MARKER).write_text("generated counting prompts\n")


class PromptDataset(Dataset):
    name = "toy prompts"

    def __init__(self, data_dir: Path) -> None:
        try:
            self.prompts = np.load(data_dir / "prompts.npy")
        except (OSError, ValueError) as exc:
            raise HarnessError(f"{data_dir} holds no prompts.npy: {exc}", "regenerate it with --demo") from None
        self.location = str(data_dir)
        self.is_demo = (data_dir / DEMO_MARKER).exists()

    @property
    def total_count(self) -> int:
        return len(self.prompts)

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"input_ids": self.prompts[indices]}
