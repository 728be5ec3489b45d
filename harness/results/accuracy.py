"""Accuracy mode: read mlperf_log_accuracy.json, score it with the model's metric, write accuracy.txt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results.logparse import DetailLog
from harness.rules import ModelRules
from models.base import AccuracyEntry, Dataset, ModelSpec, file_sha256

ACCURACY_LOG = "mlperf_log_accuracy.json"
ACCURACY_TXT = "accuracy.txt"


def read_accuracy_log(path: Path) -> list[AccuracyEntry]:
    try:
        records = json.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"{path} not found", "run in accuracy mode (MODE=accuracy)") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path} is not valid JSON ({exc})", "rerun in accuracy mode") from None
    return [AccuracyEntry(int(rec["qsl_idx"]), bytes.fromhex(rec["data"])) for rec in records]


def accuracy_text(report: str, log_path: Path) -> str:
    """accuracy.txt as MLCommons' scripts leave it: the metric line(s), then hash=<sha256 of the log>."""
    return f"{report.rstrip()}\nhash={file_sha256(log_path)}\n"


def check(model: ModelSpec, dataset: Dataset, run_dir: Path, model_rules: ModelRules, mlperf_model: str,
          log: DetailLog) -> dict[str, Any]:
    log_path = run_dir / ACCURACY_LOG
    entries = read_accuracy_log(log_path)
    result = model.evaluate(entries, dataset)
    (run_dir / ACCURACY_TXT).write_text(accuracy_text(result.report, log_path))
    targets = model_rules.accuracy_targets.get(mlperf_model, {})
    missing = [k for k in targets if k not in result.metrics]
    passed = not missing and all(result.metrics[k] >= v for k, v in targets.items()) and not log.errors
    issued = len({e.qsl_idx for e in entries})
    notes = list(result.notes)
    if issued != dataset.total_count:
        notes.append(f"the log covers {issued} of {dataset.total_count} samples")
    if log.errors:
        notes.append(f"LoadGen logged {len(log.errors)} error(s), e.g. {log.errors[0]}")
    return {"mlperf_model": mlperf_model, "metrics": result.metrics, "targets": targets, "passed": passed,
            "report": result.report, "hash": file_sha256(log_path), "samples": issued, "notes": notes}
