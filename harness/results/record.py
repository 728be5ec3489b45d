"""The run record: everything a page, comparison or regression check needs, as JSON beside the logs."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field
from datetime import datetime, timezone
from functools import cache
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
    # The process running (or that ran) this run: a run left "running" by a process that is gone
    # (kill -9, a crash, a reboot) is shown as interrupted and marked so by the next run.
    pid: int | None = None
    host: str | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "RunRecord":
        """A record read back; ValueError naming the first field of the wrong shape (a damaged run.json)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        kinds = _field_kinds()
        for name, allowed in kinds.items():
            if name not in data:
                if cls.__dataclass_fields__[name].default is MISSING and \
                        cls.__dataclass_fields__[name].default_factory is MISSING:
                    raise ValueError(f"it has no {name}")
                continue
            value = data[name]
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                raise ValueError(f"{name} is {type(value).__name__}, not "
                                 + " or ".join("null" if k is type(None) else k.__name__ for k in allowed))
        return cls(**{k: v for k, v in data.items() if k in kinds})

    def write(self, run_dir: Path) -> Path:
        path = run_dir / RECORD_NAME
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n")
            os.replace(tmp, path)
        except BaseException:
            try:  # never leave a half-written run.tmp behind (a full disk)
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise
        return path


@cache
def _field_kinds() -> dict[str, tuple[type, ...]]:
    """Per field of RunRecord, the JSON types its value may have."""
    kinds = {}
    for name, hint in typing.get_type_hints(RunRecord).items():
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        kinds[name] = tuple(typing.get_origin(o) or o for o in options)
    return kinds


def this_host() -> str:
    return socket.gethostname()


def _process_start_epoch(pid: int) -> float | None:
    """When process ``pid`` started (Linux /proc), to tell it from a later process given the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def owner_alive(record: RunRecord) -> bool | None:
    """Whether the process that runs ``record`` is still there: None when that cannot be told (another host,
    a record without pid)."""
    if record.pid is None or record.host != this_host():
        return None
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    started = _process_start_epoch(record.pid)
    if started is not None:
        try:
            run_started = datetime.fromisoformat(record.started_at).timestamp()
        except ValueError:
            return True
        if started > run_started + 2:  # the pid was reused by a process that started after the run
            return False
    return True


def died_text(record: RunRecord) -> str:
    return (f"interrupted: the harness process (pid {record.pid} on {record.host}) ended without finishing "
            "this run (killed with SIGKILL, crashed, or the machine went down)")


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
