"""RunSpec: what the user asked for, validated. Resolution against configs happens in harness.resolve."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.config import PROJECT_ROOT
from harness.errors import HarnessError
from harness.rules import normalize_scenario

MODES = ("performance", "accuracy")
DEVICES = ("auto", "cpu", "cuda")
_MODE_ALIASES = {"performanceonly": "performance", "perf": "performance", "accuracyonly": "accuracy", "acc": "accuracy"}


def default_data_root() -> Path:
    return Path(os.environ.get("MLPERF_DATA_DIR", PROJECT_ROOT / "data"))


@dataclass(frozen=True)
class RunSpec:
    model: str
    scenario: str
    mode: str = "performance"
    backend: str = "auto"
    system: str = "auto"
    device: str = "auto"
    fast: bool = False
    demo: bool = False
    target_qps: float | None = None
    min_duration_ms: int | None = None
    min_query_count: int | None = None
    target_latency_ms: float | None = None
    batch_size: int | None = None
    data_dir: Path | None = None
    weights: Path | None = None
    results_dir: Path = Path("results")
    cache_dir: Path = PROJECT_ROOT / "build" / "cache"
    rules_round: str = "v4.1"
    demo_samples: int | None = None
    strict: bool = False
    # "knob=value" overrides of the system config (validated against the Knobs fields).
    knob_overrides: tuple[str, ...] = ()
    # Server: stop as clearly INVALID once the backlog exceeds this many seconds of work (target QPS search).
    abort_when_behind_s: float | None = None
    # The compliance test this run is (set by `harness compliance`): its audit.config goes into the run folder.
    compliance_test: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scenario", normalize_scenario(self.scenario))
        mode = self.mode.strip().lower()
        mode = _MODE_ALIASES.get(mode, mode)
        if mode not in MODES:
            raise HarnessError(f"unknown mode '{self.mode}'", "use performance or accuracy")
        object.__setattr__(self, "mode", mode)
        device = self.device.strip().lower()
        if device not in DEVICES:
            raise HarnessError(f"unknown device '{self.device}'", "use auto, cpu or cuda")
        object.__setattr__(self, "device", device)
        for name in ("target_qps", "target_latency_ms"):
            value = getattr(self, name)
            if value is not None and not (0 < value < math.inf):
                raise HarnessError(f"--{name.replace('_', '-')} must be a positive finite number, got {value}")
        for name in ("min_duration_ms", "min_query_count"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise HarnessError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
        if self.mode == "performance" and self.min_duration_ms == 0 and self.min_query_count == 0:
            raise HarnessError("--min-duration-ms 0 with --min-query-count 0 asks LoadGen for an empty run, which "
                               "it cannot measure", "give one of them a positive value")
        if self.batch_size is not None and self.batch_size < 1:
            raise HarnessError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.demo_samples is not None and self.demo_samples < 1:
            raise HarnessError(f"--demo-samples must be >= 1, got {self.demo_samples}")
        if self.compliance_test is not None:
            object.__setattr__(self, "compliance_test", self.compliance_test.strip().upper())
            if mode != "performance":
                raise HarnessError(f"compliance test {self.compliance_test} runs in performance mode, not {mode}",
                                   "drop --mode (python -m harness compliance runs the tests)")
        if self.demo and self.data_dir is not None:
            raise HarnessError("--demo and --data-dir exclude each other", "drop one of them")

    @property
    def preprocessed_dir(self) -> Path:
        """Where datasets keep what they preprocess (each model in its own folder below)."""
        return self.cache_dir / "preprocessed"

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
