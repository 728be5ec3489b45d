"""Which runs a submission tree is staged from: per cell (system x benchmark x scenario) the latest complete
performance and accuracy runs and, for the closed division, the compliance runs verified against exactly
those two runs. A cell missing any of them, or whose runs are marked INCOMPLETE, is refused with the reason;
so is one whose compliance tests failed (unless asked to stage the failing verdicts, which the checker then
rejects). What is staged but will not pass the checker (INVALID, accuracy below target, demo runs) is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results import store
from harness.results.accuracy import ACCURACY_LOG, ACCURACY_TXT
from harness.results.compliance import verified_runs
from harness.results.record import RECORD_NAME, RunRecord
from harness.rules import Rules
from models.base import file_sha256


@dataclass
class ComplianceRun:
    test: str
    record: RunRecord
    run_dir: Path
    verification: dict[str, Any]


@dataclass
class Cell:
    """One result of the submission: its runs, and why it cannot be staged (problems) or will not pass
    the checker (warnings)."""

    system: str
    mlperf_model: str
    scenario: str
    folder: Path
    performance: RunRecord | None = None
    accuracy: RunRecord | None = None
    compliance: list[ComplianceRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.system}/{self.mlperf_model}/{self.scenario}"

    def run_dir(self, record: RunRecord) -> Path:
        return self.folder / "runs" / record.run_id

    @property
    def loadgen_name(self) -> str:
        record = self.performance or self.accuracy
        return str((record.rules if record else {}).get("loadgen_name", ""))


def cell_folders(results_dir: Path, systems: list[str] | None = None) -> list[Path]:
    """results/<system>/<benchmark>/<Scenario> folders that hold runs."""
    folders = sorted({p.parents[2] for p in results_dir.glob("*/*/*/runs/*/*")
                      if p.name in (RECORD_NAME, store.INCOMPLETE_MARKER)})
    return [f for f in folders if systems is None or f.parent.parent.name in systems]


def _latest_attempt(folder: Path) -> str | None:
    """The newest run folder's name and state, when it did not complete (for a clearer refusal)."""
    runs = sorted((folder / "runs").iterdir()) if (folder / "runs").is_dir() else []
    for run in reversed(runs):
        if (run / store.INCOMPLETE_MARKER).exists():
            return f"{run.name} is INCOMPLETE"
    return None


def implementation_differences(performance: RunRecord, accuracy: RunRecord) -> list[str]:
    """How an accuracy run differs from the performance run it should stand beside (backend, precision,
    weights, data): a submission's accuracy must come from the implementation that was timed."""
    out = []
    for what, get in (("backend", lambda r: r.backend.get("name")), ("precision", lambda r: r.backend.get("precision")),
                      ("weights", lambda r: r.weights.get("path") or r.weights.get("description")),
                      ("data", lambda r: r.data.get("location"))):
        if get(performance) != get(accuracy):
            out.append(f"{what} {get(accuracy)} instead of the performance run's {get(performance)}")
    return out


def _check_accuracy(cell: Cell) -> None:
    acc = cell.accuracy
    if acc is None:
        cell.problems.append(
            f"no complete accuracy run: python -m harness run --model {cell.mlperf_model} --scenario "
            f"{cell.scenario.lower()} --mode accuracy (with the performance run's other flags)")
        return
    if cell.performance is not None:
        differs = implementation_differences(cell.performance, acc)
        if differs:
            cell.problems.append(f"accuracy run {acc.run_id} ran {'; '.join(differs)}: rerun it with the "
                                 "performance run's settings")
            return
    run_dir = cell.run_dir(acc)
    log, txt = run_dir / ACCURACY_LOG, run_dir / ACCURACY_TXT
    lacking = next((name for name in store.ACCURACY_FILES if not (run_dir / name).is_file()), None)
    if lacking is not None:
        cell.problems.append(f"accuracy run {acc.run_id} lacks {lacking}")
        return
    hashes = [line[len("hash="):].strip() for line in txt.read_text().splitlines() if line.startswith("hash=")]
    if hashes != [file_sha256(log)]:
        cell.problems.append(f"accuracy run {acc.run_id}: {ACCURACY_TXT} must end with one hash= line, the sha256 "
                             f"of its {ACCURACY_LOG} (found {len(hashes)} hash line(s) that do not match)")
        return
    if not acc.accuracy.get("passed", False):
        targets = ", ".join(f"{k} >= {v:.10g}" for k, v in (acc.accuracy.get("targets") or {}).items())
        cell.warnings.append(f"accuracy {acc.accuracy.get('report', '?')} misses the target ({targets})")


def _check_performance(cell: Cell) -> None:
    perf = cell.performance
    if perf is None:
        attempt = _latest_attempt(cell.folder)
        cell.problems.append("no complete performance run" + (f" ({attempt})" if attempt else ""))
        return
    for name in store.PERFORMANCE_FILES:
        if not (cell.run_dir(perf) / name).is_file():
            cell.problems.append(f"performance run {perf.run_id} lacks {name}")
    if not perf.result.get("valid", False):
        why = "; ".join(perf.result.get("explanation") or []) or "LoadGen says INVALID"
        cell.warnings.append(f"performance run {perf.run_id} is INVALID ({why})")


def _check_compliance(cell: Cell, rules: Rules, with_failed: bool,
                      complete: list[tuple[Path, RunRecord]]) -> None:
    perf, acc = cell.performance, cell.accuracy
    if perf is None:
        return
    for test in rules.required_tests(cell.loadgen_name):
        runs = verified_runs(cell.folder, test.name, complete)
        matching = [(record, v) for record, v in runs if v.get("reference_performance_run") == perf.run_id
                    and (not test.checks_accuracy or (acc is not None and
                                                      v.get("reference_accuracy_run") == acc.run_id))]
        command = (f"python -m harness compliance --model {cell.mlperf_model} --scenario {cell.scenario.lower()} "
                   f"--test {test.name}")
        if not matching:
            against = f" (the latest was checked against run {runs[0][1].get('reference_performance_run')})" \
                if runs else ""
            cell.problems.append(f"no {test.name} run verified against performance run {perf.run_id}"
                                 + (f" and accuracy run {acc.run_id}" if test.checks_accuracy and acc else "")
                                 + f"{against}: {command}")
            continue
        record, verification = matching[0]
        run_dir = cell.run_dir(record)
        if not verification.get("passed"):
            verdicts = [part["verdict"] for part in (verification.get(k) for k in ("performance", "accuracy",
                                                                                    "part_three"))
                        if part and not part.get("passed")]
            text = f"{test.name} failed its check ({'; '.join(verdicts)}; see {run_dir})"
            if with_failed:
                cell.warnings.append(text)
            else:
                cell.problems.append(f"{text}: fix the cause and rerun {command}")
                continue
        cell.compliance.append(ComplianceRun(test.name, record, run_dir, verification))


def collect(results_dir: Path, rules: Rules, division: str, systems: list[str] | None = None,
            with_failed_compliance: bool = False) -> list[Cell]:
    cells = []
    for folder in cell_folders(results_dir, systems):
        system, model, scenario = folder.parent.parent.name, folder.parent.name, folder.name
        complete = store.complete_runs(folder)
        cell = Cell(system, model, scenario, folder, store.newest(complete, "performance"),
                    store.newest(complete, "accuracy"))
        known = rules.models.get(cell.loadgen_name)
        if (cell.performance or cell.accuracy) and (known is None or model not in known.accuracy_targets):
            cell.problems.append(f"{model} is not a benchmark of MLPerf Inference {rules.round}")
            cells.append(cell)
            continue
        _check_performance(cell)
        _check_accuracy(cell)
        for record in (cell.performance, cell.accuracy):
            if record is not None and record.rules.get("round") != rules.round:
                cell.problems.append(f"run {record.run_id} ran under rules {record.rules.get('round')}, "
                                     f"not {rules.round}")
        if division != "open":
            _check_compliance(cell, rules, with_failed_compliance, complete)
        reasons = [] if cell.performance is None else cell.performance.comparable.get("reasons", [])
        if reasons:
            cell.warnings.append("not submission-grade: " + "; ".join(reasons))
        cells.append(cell)
    return cells


def missing_scenarios(rules: Rules, staged: dict[str, set[tuple[str, str]]],
                      loadgen_names: dict[str, str]) -> list[str]:
    """Per system, the scenarios the datacenter division requires of each staged benchmark but that
    are not in the tree (``staged``: system -> {(benchmark, Scenario)})."""
    missing = []
    for system, cells in sorted(staged.items()):
        for model in sorted({m for m, _ in cells}):
            name = loadgen_names.get(model, "")
            required = rules.models[name].scenarios if name in rules.models else ()
            for scenario in required:
                if (model, scenario) not in cells:
                    missing.append(f"{system}/{model}/{scenario}")
    return missing
