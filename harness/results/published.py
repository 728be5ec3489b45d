"""Published MLPerf results (configs/reference/published_results.csv), per GPU.

One row per system x benchmark x scenario of a round, as its submitter's
results/<system>/<benchmark>/<scenario>/performance/run_1/mlperf_log_summary.txt gives it; `source` names that
file. scripts/published_results.py regenerates the rows from a clone of mlcommons/inference_results_vX.Y.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.config import configs_dir
from harness.errors import HarnessError

COLUMNS = ("round", "submitter", "system", "accelerator", "accelerators", "model", "scenario", "metric", "value",
           "note", "source")
# Files written before the source column existed still read.
REQUIRED_COLUMNS = COLUMNS[:-1]
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
_ROUND = re.compile(r"^v(\d+)\.(\d+)$")
FIX = ("restore it (git checkout configs/reference/published_results.csv) or regenerate it with "
       "scripts/published_results.py")


def default_path() -> Path:
    return configs_dir() / "reference" / "published_results.csv"


def round_key(name: str) -> tuple[int, int]:
    """'v4.1' -> (4, 1), so that v10.0 sorts after v4.1."""
    match = _ROUND.match(name)
    if match is None:
        raise ValueError(f"not a round name like v4.1: {name!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class Published:
    """One published result: a system's headline number for a benchmark in a scenario."""

    round: str
    system: str
    accelerator: str
    accelerators: int
    value: float
    metric: str
    submitter: str = ""
    model: str = ""
    scenario: str = ""
    note: str = ""
    source: str = ""
    value_text: str = ""  # the number as the summary file writes it

    @property
    def per_accelerator(self) -> float:
        return self.value / self.accelerators

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return self.round, self.submitter, self.system, self.model, self.scenario

    def to_row(self) -> dict[str, str]:
        return {"round": self.round, "submitter": self.submitter, "system": self.system,
                "accelerator": self.accelerator, "accelerators": str(self.accelerators), "model": self.model,
                "scenario": self.scenario, "metric": self.metric, "value": self.value_text or repr(self.value),
                "note": self.note, "source": self.source}


def _row(path: Path, line: int, raw: dict[str, str | None]) -> Published:
    where = f"{path}:{line}"
    row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    if None in raw:
        raise HarnessError(f"{where}: more fields than the header names", FIX)
    for name in ("round", "system", "accelerator", "model", "scenario", "metric", "value"):
        if not row.get(name):
            raise HarnessError(f"{where}: the {name} field is empty", FIX)
    try:
        round_key(row["round"])
    except ValueError:
        raise HarnessError(f"{where}: round must look like v4.1, got {row['round']!r}", FIX) from None
    if row["scenario"] not in SCENARIOS:
        raise HarnessError(f"{where}: unknown scenario {row['scenario']!r} (one of {', '.join(SCENARIOS)})", FIX)
    try:
        accelerators = int(row["accelerators"])
    except ValueError:
        accelerators = 0
    if accelerators < 1:
        raise HarnessError(f"{where}: accelerators must be a positive integer, got {row['accelerators']!r}", FIX)
    try:
        value = float(row["value"])
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise HarnessError(f"{where}: value must be a positive number, got {row['value']!r}", FIX)
    return Published(row["round"], row["system"], row["accelerator"], accelerators, value, row["metric"],
                     row.get("submitter", ""), row["model"], row["scenario"], row.get("note", ""),
                     row.get("source", ""), row["value"])


def load_published(path: Path | None = None) -> list[Published]:
    """Every row of the published-results file, checked; a malformed file is a HarnessError naming the line."""
    path = path or default_path()
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise HarnessError(f"{path}: the header lacks column(s) {', '.join(missing)}", FIX)
            return [_row(path, reader.line_num, raw) for raw in reader]
    except FileNotFoundError:
        raise HarnessError(f"published results file {path} not found", FIX) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise HarnessError(f"{path} cannot be read as CSV ({exc})", FIX) from None


def write_published(rows: Iterable[Published], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r.to_row() for r in rows)
    tmp.replace(path)
    return path


def rounds(rows: Iterable[Published]) -> list[str]:
    """The rounds present, newest first."""
    return sorted({r.round for r in rows}, key=round_key, reverse=True)


def candidates(rows: Iterable[Published], accelerator: str, mlperf_model: str, scenario: str,
               round_name: str | None = None, metric: str | None = None) -> list[Published]:
    """Rows for this GPU model (case-insensitive), benchmark and scenario; optionally one round and one metric."""
    return [r for r in rows if r.accelerator.lower() == accelerator.lower() and r.model == mlperf_model
            and r.scenario == scenario and (round_name is None or r.round == round_name)
            and (metric is None or r.metric == metric)]


def reference(rows: Iterable[Published], gpu_count: int) -> Published | None:
    """The row to compare a box of ``gpu_count`` GPUs with: the closest GPU count, then the newest round, then
    the highest per-GPU result (the best published figure at that scale)."""
    return min(rows, key=lambda r: (abs(r.accelerators - gpu_count), tuple(-n for n in round_key(r.round)),
                                    -r.per_accelerator), default=None)


def published_per_gpu(accelerator: str, mlperf_model: str, scenario: str, gpu_count: int = 1,
                      path: Path | None = None, round_name: str | None = None) -> Published | None:
    """The published result for this GPU model, benchmark and scenario to compare ``gpu_count`` GPUs with
    (see reference()); None when there is none or no published-results file."""
    path = path or default_path()
    if not path.is_file():
        return None
    return reference(candidates(load_published(path), accelerator, mlperf_model, scenario, round_name), gpu_count)


def accelerator_names(rows: Iterable[Published]) -> list[str]:
    return sorted({r.accelerator for r in rows})
