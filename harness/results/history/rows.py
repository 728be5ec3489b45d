"""A run record as one row of the history store: its series and the metrics regression checks read.

A series is what must stay the same for two runs to be compared night after night: the box, the system
config, the benchmark, scenario and mode, the backend, the precision it ran, the weights (or ONNX) it
started from and the dataset. Knobs, software versions and TensorRT engines are deliberately not part of
it: when they change, the series goes on and the report shows the change next to any shift it caused.
The engine key is kept beside it, for telling a correctness change (same weights, engine and dataset,
different accuracy log) from an engine rebuild.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results.record import RECORD_NAME, STATUS_COMPLETE, STATUS_RUNNING

_REQUIRED = ("run_id", "system", "model", "mlperf_model", "scenario", "mode", "started_at", "status")


class BadRunFolder(HarnessError):
    """A run folder the store cannot take: no run.json, a half-written one, or a run still going."""

    def __init__(self, run_dir: Path, why: str) -> None:
        super().__init__(f"{run_dir}: {why}", "let the run finish, or delete the folder if it was killed; "
                                              "the other runs are imported")
        self.run_dir = run_dir
        self.why = why


@dataclass(frozen=True)
class SeriesKey:
    box: str
    system: str
    mlperf_model: str
    scenario: str
    mode: str
    backend: str
    precision: str
    weights_key: str
    dataset_key: str

    @property
    def text(self) -> str:
        return "|".join(asdict(self).values())

    @property
    def label(self) -> str:
        return (f"{self.mlperf_model} {self.scenario} {self.mode} on {self.box} ({self.system}), {self.backend} "
                f"{self.precision}, weights {self.weights_key}, data {self.dataset_key}")


@dataclass
class RunRow:
    uid: str
    series: str
    box: str
    system: str
    model: str
    mlperf_model: str
    scenario: str
    mode: str
    backend: str
    precision: str
    weights_key: str
    dataset_key: str
    engine_key: str
    run_id: str
    started_at: str
    ended_at: str | None
    status: str
    valid: bool | None
    headline: float | None
    headline_unit: str | None
    p99_latency_ms: float | None
    accuracy: float | None
    accuracy_metric: str | None
    accuracy_passed: bool | None
    accuracy_hash: str | None
    energy_j_per_sample: float | None
    throttle_s: float | None
    samples: int | None
    git_commit: str | None
    run_path: str | None
    record: dict[str, Any]
    night_id: int | None = None
    cell: str | None = None
    attempt: int | None = None
    id: int | None = None

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.box, self.system, self.mlperf_model, self.scenario, self.mode, self.backend,
                         self.precision, self.weights_key, self.dataset_key)

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}

    @classmethod
    def from_mapping(cls, data: Any) -> "RunRow":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(data).items() if k in names})


def run_uid(record: dict[str, Any]) -> str:
    """The same run always gets the same uid, whichever box or folder it is imported from."""
    parts = [str(record.get(k, "")) for k in ("system", "mlperf_model", "scenario", "mode", "run_id", "started_at")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def weights_key(record: dict[str, Any]) -> str:
    backend = record.get("backend") or {}
    if backend.get("onnx_sha256"):
        return "onnx:" + str(backend["onnx_sha256"])[:16]
    weights = record.get("weights") or {}
    if weights.get("path"):
        return Path(str(weights["path"])).name
    return "random" if weights.get("random", True) else "unknown"


def dataset_key(record: dict[str, Any]) -> str:
    data = record.get("data") or {}
    name = str(data.get("name") or "unknown")
    return f"{'demo ' if data.get('demo') else ''}{name} x{data.get('total_count', '?')}"


def engine_key(record: dict[str, Any]) -> str:
    engines = (record.get("backend") or {}).get("engines")
    return _short_hash(engines) if engines else ""


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _accuracy(record: dict[str, Any]) -> tuple[float | None, str | None, bool | None, str | None]:
    acc = record.get("accuracy") or {}
    if not acc:
        return None, None, None, None
    metrics = acc.get("metrics") or {}
    names = list(acc.get("targets") or {}) + [m for m in metrics if m not in (acc.get("targets") or {})]
    name = names[0] if names else None
    value = _float(metrics.get(name)) if name else None
    passed = acc.get("passed")
    return value, name, passed if isinstance(passed, bool) else None, acc.get("hash")


def check_record(record: Any, run_dir: Path) -> dict[str, Any]:
    """The record, if the store can take it; BadRunFolder saying why not."""
    if not isinstance(record, dict):
        raise BadRunFolder(run_dir, f"{RECORD_NAME} does not hold a JSON object")
    missing = [k for k in _REQUIRED if not record.get(k)]
    if missing:
        raise BadRunFolder(run_dir, f"{RECORD_NAME} lacks {', '.join(missing)} (half-written?)")
    if record["status"] == STATUS_RUNNING:
        raise BadRunFolder(run_dir, "the run has not finished (status 'running'): still going, or killed before "
                                    "it could record how it ended")
    if record["status"] == STATUS_COMPLETE:
        if record["mode"] == "performance" and "valid" not in (record.get("result") or {}):
            raise BadRunFolder(run_dir, f"{RECORD_NAME} says complete but holds no result (half-written?)")
        if record["mode"] == "accuracy" and not (record.get("accuracy") or {}).get("hash"):
            raise BadRunFolder(run_dir, f"{RECORD_NAME} says complete but holds no accuracy result (half-written?)")
    return record


def read_run_folder(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RECORD_NAME
    if not path.is_file():
        raise BadRunFolder(run_dir, f"no {RECORD_NAME}: not a run, or one stopped before it started")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRunFolder(run_dir, f"{RECORD_NAME} cannot be read ({exc}): half-written?") from None
    return check_record(record, run_dir)


def row_from_record(record: dict[str, Any], box: str, run_path: str | None = None) -> RunRow:
    backend = record.get("backend") or {}
    result = record.get("result") or {}
    telemetry = record.get("telemetry") or {}
    performance = record["mode"] == "performance"
    accuracy, metric, passed, acc_hash = _accuracy(record)
    p99_ns = _float((record.get("latency_ns") or {}).get("p99"))
    precision = str(backend.get("precision") or (record.get("knobs") or {}).get("precision") or "unknown")
    samples = (record.get("harness_stats") or {}).get("samples")
    row = RunRow(
        uid=run_uid(record), series="", box=box, system=str(record["system"]), model=str(record["model"]),
        mlperf_model=str(record["mlperf_model"]), scenario=str(record["scenario"]),
        # A compliance run is its own series (TEST04's throughput is not the performance series').
        mode=str(record.get("compliance") or record["mode"]),
        backend=str(backend.get("name") or (record.get("spec") or {}).get("backend") or "unknown"),
        precision=precision, weights_key=weights_key(record), dataset_key=dataset_key(record),
        engine_key=engine_key(record), run_id=str(record["run_id"]), started_at=str(record["started_at"]),
        ended_at=record.get("ended_at"), status=str(record["status"]),
        valid=bool(result["valid"]) if performance and isinstance(result.get("valid"), bool) else None,
        headline=_float(result.get("value")) if performance else None,
        headline_unit=result.get("unit") if performance else None,
        p99_latency_ms=p99_ns / 1e6 if performance and p99_ns is not None else None,
        accuracy=accuracy, accuracy_metric=metric, accuracy_passed=passed, accuracy_hash=acc_hash,
        energy_j_per_sample=_float(telemetry.get("energy_j_per_sample")),
        throttle_s=_float(telemetry.get("throttle_s")),
        samples=int(samples) if isinstance(samples, int) else None,
        git_commit=(record.get("git") or {}).get("commit"), run_path=run_path, record=record)
    row.series = row.key.text
    return row
