"""Read LoadGen's mlperf_log_detail.txt (":::MLLOG {json}" lines) into a flat key -> value map."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PREFIX = ":::MLLOG"


@dataclass
class DetailLog:
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bad_lines: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.values


def parse_detail_text(text: str) -> DetailLog:
    log = DetailLog()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(_PREFIX):
            continue
        try:
            entry = json.loads(line[len(_PREFIX):])
        except json.JSONDecodeError:
            log.bad_lines += 1  # e.g. a truncated last line
            continue
        key = entry.get("key")
        if not isinstance(key, str):
            continue
        value = entry.get("value")
        meta = entry.get("metadata") or {}
        if meta.get("is_error"):
            log.errors.append(f"{key}: {value}")
        elif meta.get("is_warning"):
            log.warnings.append(f"{key}: {value}")
        # Keep the first value for repeated keys except results, which LoadGen writes once.
        log.values.setdefault(key, value)
    return log


# The last entry LoadGen writes to a whole detail log, per mode.
_LAST_KEY = {"performance": "num_errors", "accuracy": "power_end"}


def cut_short(log: DetailLog, mode: str) -> str | None:
    """Why a detail log is not whole (a full disk, a killed process), or None when it is."""
    if log.bad_lines:
        return f"has {log.bad_lines} unreadable line(s): the file was cut off"
    last = _LAST_KEY.get(mode)
    if last is not None and last not in log:
        if mode == "performance" and "result_validity" in log:
            return "was cut after result_validity: its results are incomplete"
        return f"ends before LoadGen's last entry ({last}): the file was cut off"
    return None


def parse_detail_log(path: Path) -> DetailLog:
    return parse_detail_text(path.read_text(encoding="utf-8", errors="replace"))


PERCENTILE_KEYS = {
    "p50": "result_50.00_percentile_latency_ns",
    "p90": "result_90.00_percentile_latency_ns",
    "p95": "result_95.00_percentile_latency_ns",
    "p97": "result_97.00_percentile_latency_ns",
    "p99": "result_99.00_percentile_latency_ns",
    "p99.9": "result_99.90_percentile_latency_ns",
}


def latency_summary_ns(log: DetailLog) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, key in (("min", "result_min_latency_ns"), ("max", "result_max_latency_ns"),
                      ("mean", "result_mean_latency_ns"), *PERCENTILE_KEYS.items()):
        value = log.get(key)
        if isinstance(value, (int, float)):
            out[name] = int(value)
    return out
