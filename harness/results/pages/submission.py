"""Read an MLPerf submission tree for the results page.

<dir>/<division>/<submitter>/systems/<system>.json and
<dir>/<division>/<submitter>/results/<system>/<benchmark>/<Scenario>/performance/run_1/mlperf_log_detail.txt
(accuracy/accuracy.txt beside performance/). Values come from the detail log's result keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results.accuracy import ACCURACY_TXT
from harness.results.logparse import parse_detail_log
from harness.results.pages.facts import page_metric, performance_text
from harness.results.pages.local import DETAIL_LOG, SUMMARY_PAGE, relative
from harness.results.pages.summary import Button, ScenarioResult

DIVISIONS = ("closed", "open", "network")


@dataclass
class SubmissionSystem:
    root: Path  # <dir>/<division>/<submitter>
    division: str
    submitter: str
    system: str
    description: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def results_dir(self) -> Path:
        return self.root / "results" / self.system

    @property
    def systems_json(self) -> Path:
        return self.root / "systems" / f"{self.system}.json"

    @property
    def default_page(self) -> Path:
        return self.results_dir / SUMMARY_PAGE


def _available(submission_dir: Path) -> str:
    found = sorted(f"{p.parent.parent.parent.name}/{p.parent.parent.name}/{p.name}"
                   for p in submission_dir.glob("*/*/results/*") if p.is_dir())
    return ", ".join(found) if found else "none"


def locate(submission_dir: Path, submitter: str, system: str, division: str | None = None) -> SubmissionSystem:
    if not submission_dir.is_dir():
        raise HarnessError(f"submission directory {submission_dir} not found",
                           "pass the folder that holds closed/ (or open/)")
    divisions = (division,) if division else DIVISIONS
    for name in divisions:
        root = submission_dir / name / submitter
        if (root / "results" / system).is_dir() or (root / "systems" / f"{system}.json").is_file():
            found = SubmissionSystem(root, name, submitter, system)
            found.description, found.notes = read_description(found.systems_json)
            return found
    raise HarnessError(
        f"no results or systems file for {submitter}/{system} under {submission_dir}",
        f"division/submitter/system triples found there: {_available(submission_dir)}")


def read_description(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The systems file, or an empty description and a note saying what is wrong with it."""
    shown = "/".join(path.parts[-4:])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, [f"{shown} is missing: the system description sections are empty"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, [f"{shown} cannot be read ({exc}): the system description sections are empty"]
    if not isinstance(data, dict):
        return {}, [f"{shown} is not a JSON object: the system description sections are empty"]
    return data, []


def _scenario(scenario_dir: Path, scenario: str, page_dir: Path, notes: list[str], label: str) -> ScenarioResult:
    run_dir = scenario_dir / "performance" / "run_1"
    detail = run_dir / DETAIL_LOG
    accuracy = scenario_dir / "accuracy" / ACCURACY_TXT
    acc_text = ""
    if accuracy.is_file():
        lines = [ln.strip() for ln in accuracy.read_text(errors="replace").splitlines()
                 if ln.strip() and not ln.startswith("hash=")]
        acc_text = lines[-1][:200] if lines else ""
    else:
        notes.append(f"{label}: accuracy/{ACCURACY_TXT} is missing")
    summary = run_dir / "mlperf_log_summary.txt"
    href = relative(summary if summary.is_file() else detail, page_dir)
    if not detail.is_file():
        return ScenarioResult(problem=f"performance/run_1/{DETAIL_LOG} is missing", accuracy_text=acc_text)
    log = parse_detail_log(detail)
    key, value, unit = page_metric(log, scenario)
    if "result_validity" not in log or value is None:
        missing = "result_validity" if "result_validity" not in log else key
        return ScenarioResult(problem=f"{DETAIL_LOG} has no {missing} line (truncated?)", href=href,
                              accuracy_text=acc_text)
    valid = log.get("result_validity") == "VALID" and not log.errors
    if not valid:
        notes.append(f"{label}: the performance run is {log.get('result_validity')}"
                     + (f" with {len(log.errors)} LoadGen error(s)" if log.errors else ""))
    return ScenarioResult(unit=unit, value_text=performance_text(value), value=value, valid=valid, href=href,
                          accuracy_text=acc_text)


def read_results(found: SubmissionSystem, page_dir: Path) -> dict[str, dict[str, ScenarioResult]]:
    results: dict[str, dict[str, ScenarioResult]] = {}
    if not found.results_dir.is_dir():
        found.notes.append(f"results/{found.system} is missing: the results table is empty")
        return results
    for model_dir in sorted(p for p in found.results_dir.iterdir() if p.is_dir()):
        for scenario_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            label = f"{model_dir.name}/{scenario_dir.name}"
            results.setdefault(model_dir.name, {})[scenario_dir.name] = _scenario(
                scenario_dir, scenario_dir.name, page_dir, found.notes, label)
    return results


def buttons(found: SubmissionSystem, page_dir: Path) -> list[Button]:
    targets = [("Code", found.root / "code"), ("Result Logs", found.results_dir),
               ("Measurements", found.root / "measurements" / found.system)]
    if found.division == "closed":
        targets.append(("Compliance", found.root / "compliance" / found.system))
    return [Button(label, relative(path, page_dir) if path.exists() else None) for label, path in targets]
