"""Published MLPerf results (configs/reference/published_results.csv), per GPU."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from harness.config import configs_dir


@dataclass(frozen=True)
class Published:
    round: str
    system: str
    accelerator: str
    accelerators: int
    value: float
    metric: str

    @property
    def per_accelerator(self) -> float:
        return self.value / self.accelerators


def published_per_gpu(accelerator: str, mlperf_model: str, scenario: str, gpu_count: int = 1,
                      path: Path | None = None) -> Published | None:
    """The newest published result for this GPU model, benchmark and scenario, from the system whose GPU
    count is closest to ``gpu_count`` (None if there is none)."""
    path = path or configs_dir() / "reference" / "published_results.csv"
    if not path.is_file():
        return None
    best: Published | None = None
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (row["accelerator"].lower() != accelerator.lower() or row["model"] != mlperf_model
                    or row["scenario"] != scenario):
                continue
            entry = Published(row["round"], row["system"], row["accelerator"], int(row["accelerators"]),
                              float(row["value"]), row["metric"])
            if best is None or (entry.round, -abs(entry.accelerators - gpu_count)) > (
                    best.round, -abs(best.accelerators - gpu_count)):
                best = entry
    return best
