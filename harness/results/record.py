"""The run record: everything a page, comparison or regression check needs, as JSON beside the logs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.config import PROJECT_ROOT

RECORD_NAME = "run.json"
SCHEMA_VERSION = 1

STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"
STATUS_FAILED = "failed"
# Stopped on purpose because the outcome was already clear (a Server probe far behind its target).
STATUS_ABORTED = "aborted"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class RunRecord:
    run_id: str
    model: str
    mlperf_model: str
    scenario: str
    mode: str
    system: str
    status: str = STATUS_RUNNING
    # The compliance test this run is (TEST01, TEST04, TEST05); None for an ordinary run.
    compliance: str | None = None
    started_at: str = field(default_factory=now_iso)
    ended_at: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    # Every knob of the run, flat, and the same by owner (run, backend, model).
    knobs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # The model's inference program: its name, the runner kind it called and who batched.
    program: dict[str, Any] = field(default_factory=dict)
    loadgen: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    system_info: dict[str, Any] = field(default_factory=dict)
    backend: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    # Headline metric, validity, failing constraints (performance runs).
    result: dict[str, Any] = field(default_factory=dict)
    latency_ns: dict[str, int] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)
    model_info: dict[str, Any] = field(default_factory=dict)
    # Whether the run could stand in a submission, and why not.
    comparable: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, Any] = field(default_factory=dict)
    harness_stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, run_dir: Path) -> Path:
        path = run_dir / RECORD_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n")
        os.replace(tmp, path)
        return path


def read_record(run_dir: Path) -> RunRecord:
    return RunRecord.from_dict(json.loads((run_dir / RECORD_NAME).read_text()))


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))
            if commit else None}


def software_versions(extra: dict[str, str] | None = None) -> dict[str, str]:
    from importlib import metadata

    import harness

    versions = {"python": platform.python_version(), "harness": harness.__version__}
    for dist in ("mlcommons-loadgen", "numpy", "opencv-python-headless"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    versions.update(extra or {})
    return versions
