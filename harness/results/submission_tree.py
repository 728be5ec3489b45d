"""Stage an MLPerf submission tree (the v4.1 layout) from this harness's results.

<out>/<division>/<ORG>/
    systems/<system>.json                                 the user's description, submitter and division set
    code/<benchmark>/<backend>/README.md                  pointer to this harness at the runs' commit
    measurements/<system>/<benchmark>/<Scenario>/         mlperf.conf, user.conf, README.md (commands),
                                                          <system>_<backend>_<Scenario>.json
    results/<system>/<benchmark>/<Scenario>/              performance/run_1/ and accuracy/: LoadGen files only,
                                                          the accuracy log truncated, accuracy.txt with hash=
    compliance/<system>/<benchmark>/<Scenario>/TEST0x/    what MLCommons' run_verification scripts copy
<out>/staging_report.md                                   what was staged, refused, and is missing
<out>_full_accuracy_logs/...                              the untruncated accuracy logs, same layout

The tree is built aside and moved into place, so a failed staging leaves nothing that looks complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import PROJECT_ROOT
from harness.errors import HarnessError
from harness.loadgen_settings import round_mlperf_conf
from harness.machine import description
from harness.machine.probe import framework_of
from harness.results import compliance as verify
from harness.results import store
from harness.results.accuracy import ACCURACY_LOG, ACCURACY_TXT
from harness.results.record import RunRecord
from harness.results.staging import Cell, collect, missing_scenarios
from harness.rules import Rules
from models.base import file_sha256

DIVISIONS = ("closed", "open")
REPORT = "staging_report.md"
# As MLCommons' truncate_accuracy_log.py: keep the first and last 4096 characters.
VIEWABLE_SIZE = 4096
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


@dataclass
class Request:
    results_dir: Path
    out: Path
    submitter: str
    rules: Rules
    division: str = "closed"
    systems_dir: Path | None = None
    systems: list[str] | None = None
    merge: bool = False
    mlperf_conf: Path | None = None
    with_failed_compliance: bool = False
    # The command line that repeats a run (for the measurements' README).
    command_of: Callable[[RunRecord], str] = lambda record: f"(run {record.run_id})"

    @property
    def full_logs(self) -> Path:
        return self.out.with_name(self.out.name + "_full_accuracy_logs")


@dataclass
class Report:
    out: Path
    full_logs: Path
    staged: list[Cell] = field(default_factory=list)
    refused: list[Cell] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every cell found is in the tree, and no scenario the division requires is missing."""
        return bool(self.staged) and not self.refused and not self.missing

    @property
    def state(self) -> str:
        if not self.complete:
            return "NOT COMPLETE"
        if any(c.warnings for c in self.staged):
            return "COMPLETE, but the checker will reject the cells marked below"
        return "COMPLETE"


def truncate_accuracy_log(src: Path, dst: Path) -> None:
    """What truncate_accuracy_log.py leaves of a log: the first and last 4096 characters around a gap
    (a log shorter than that stays whole)."""
    size = src.stat().st_size
    if size < VIEWABLE_SIZE:
        shutil.copyfile(src, dst)
        return
    with open(src, encoding="utf-8") as handle:
        start = handle.read(VIEWABLE_SIZE)
        handle.seek(size - VIEWABLE_SIZE, 0)
        end = handle.read(VIEWABLE_SIZE)
    dst.write_text(start + "\n\n...\n\n" + end, encoding="utf-8")


def _git_remote() -> str:
    try:
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), "remote", "get-url", "origin"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _commit(record: RunRecord) -> str:
    git = record.git or {}
    commit = git.get("commit") or "unknown"
    return f"{commit}" + (" (with uncommitted changes)" if git.get("dirty") else "")


class _Writer:
    """Writes one staging into a fresh folder (root = <tmp>/<division>/<ORG>)."""

    def __init__(self, req: Request, tmp: Path, tmp_logs: Path) -> None:
        self.req = req
        self.root = tmp / req.division / req.submitter
        self.logs_root = tmp_logs / req.division / req.submitter
        self.units: list[str] = []  # paths under root, each replaced as a whole when merging

    def _unit(self, relative: str) -> Path:
        self.units.append(relative)
        path = self.root / relative
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _copy(self, src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)

    def _accuracy_log(self, src: Path, relative: str) -> None:
        """The truncated log in the tree; the whole one kept aside."""
        truncate_accuracy_log(src, self.root / relative)
        self._copy(src, self.logs_root / relative)

    def cell(self, cell: Cell) -> None:
        perf, acc = cell.performance, cell.accuracy
        assert perf is not None and acc is not None
        where = f"{cell.system}/{cell.mlperf_model}/{cell.scenario}"
        results = self._unit(f"results/{where}")
        for name in store.PERFORMANCE_FILES:
            self._copy(cell.run_dir(perf) / name, results / "performance" / "run_1" / name)
        acc_dir = cell.run_dir(acc)
        for name in store.ACCURACY_FILES:
            if name != ACCURACY_LOG:  # the log is truncated on its way in
                self._copy(acc_dir / name, results / "accuracy" / name)
        self._accuracy_log(acc_dir / ACCURACY_LOG, f"results/{where}/accuracy/{ACCURACY_LOG}")
        self._measurements(cell, where)
        if cell.compliance:
            self._unit(f"compliance/{where}")
        for run in cell.compliance:
            self._compliance(run, f"compliance/{where}/{run.test}")

    def _compliance(self, run: Any, relative: str) -> None:
        dest = self.root / relative
        self._copy(run.run_dir / verify.VERIFY_PERFORMANCE, dest / verify.VERIFY_PERFORMANCE)
        for name in store.PERFORMANCE_FILES:
            self._copy(run.run_dir / name, dest / "performance" / "run_1" / name)
        if run.verification.get("accuracy") is None:
            return
        self._copy(run.run_dir / verify.VERIFY_ACCURACY, dest / verify.VERIFY_ACCURACY)
        log = run.run_dir / ACCURACY_LOG
        (dest / "accuracy").mkdir(parents=True, exist_ok=True)
        self._accuracy_log(log, f"{relative}/accuracy/{ACCURACY_LOG}")
        (dest / "accuracy" / ACCURACY_TXT).write_text(f"hash={file_sha256(log)}\n")
        if run.verification.get("part_three") is not None:
            for name in (verify.BASELINE_ACCURACY, verify.COMPLIANCE_ACCURACY):
                self._copy(run.run_dir / name, dest / "accuracy" / name)

    def _measurements(self, cell: Cell, where: str) -> None:
        req, perf, acc = self.req, cell.performance, cell.accuracy
        assert perf is not None and acc is not None
        impl = perf.backend.get("name", "unknown")
        dest = self._unit(f"measurements/{where}")
        if req.mlperf_conf is not None:
            self._copy(req.mlperf_conf, dest / "mlperf.conf")
        else:
            (dest / "mlperf.conf").write_text(round_mlperf_conf(req.rules))
        self._copy(cell.run_dir(perf) / "user.conf", dest / "user.conf")
        precision = str(perf.backend.get("precision") or "fp32")
        weights = perf.weights or {}
        starting = Path(weights["path"]).name if weights.get("path") else \
            f"none: {weights.get('description') or 'random initialisation'}"
        transformations = {"fp32": "none", "none": "none (no inference)",
                           "int8": "int8 quantization (post-training calibration)"}.get(
            precision, f"fp32 to {precision} conversion")
        implementation = {"input_data_types": precision, "retraining": "No", "starting_weights_filename": starting,
                          "weight_data_types": precision, "weight_transformations": transformations}
        (dest / f"{cell.system}_{impl}_{cell.scenario}.json").write_text(json.dumps(implementation, indent=4) + "\n")
        lines = [f"# {cell.mlperf_model} {cell.scenario} on {cell.system}", "",
                 f"Produced with this harness (code/{cell.mlperf_model}/{impl}) at commit {_commit(perf)}, "
                 f"backend {impl}, rules {req.rules.round}.", "", "## Commands", "",
                 "Performance run, accuracy run, compliance tests, then this tree:", "",
                 f"    {req.command_of(perf)}", f"    {req.command_of(acc)}"]
        if cell.compliance:
            tests = ",".join(run.test for run in cell.compliance)
            lines.append(f"    python -m harness compliance --model {cell.mlperf_model} --scenario "
                         f"{cell.scenario.lower()} --test {tests} --results-dir {req.results_dir}")
        lines += [f"    python -m harness submission --submitter {req.submitter} --division {req.division} "
                  f"--results-dir {req.results_dir} --out {req.out}", "", "## Runs", "",
                  f"- performance: {perf.run_id} ({perf.result.get('value')} {perf.result.get('unit', '')}, "
                  f"{'VALID' if perf.result.get('valid') else 'INVALID'})",
                  f"- accuracy: {acc.run_id} ({acc.accuracy.get('report', '')})"]
        lines += [f"- {run.test}: {run.record.run_id} ({'PASS' if run.verification.get('passed') else 'FAIL'})"
                  for run in cell.compliance]
        if cell.warnings:
            lines += ["", "## Will not pass the submission checker as it is", ""]
            lines += [f"- {w}" for w in cell.warnings]
        (dest / "README.md").write_text("\n".join(lines) + "\n")

    def code_pointer(self, model: str, impl: str, records: list[RunRecord]) -> None:
        dest = self._unit(f"code/{model}/{impl}")
        remote = _git_remote()
        commits = sorted({_commit(r) for r in records})
        folder = records[0].model if records else model
        lines = [f"# {model}: the {impl} backend of this harness", "",
                 "The code of these results is the harness " + (f"at {remote}" if remote else "(its repository)")
                 + ", at commit " + ", ".join(commits) + ":", "",
                 f"- models/{folder}/: dataset reader and preprocessing, network, postprocessing, accuracy metric",
                 f"- harness/backends/: the {impl} backend", "- harness/scenarios/: the Offline and Server SUTs",
                 "- harness/run.py: one LoadGen run; configs/rules/: the round's rules", "",
                 "Reproduce: check out that commit, `make venv`, then run the commands in "
                 f"measurements/<system>/{model}/<Scenario>/README.md."]
        (dest / "README.md").write_text("\n".join(lines) + "\n")

    def system(self, name: str, data: dict[str, Any]) -> None:
        self.units.append(f"systems/{name}.json")
        path = self.root / "systems" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


def _system_json(req: Request, system: str, cells: list[Cell]) -> tuple[dict[str, Any], list[str], list[str]]:
    """The staged systems file, why it cannot be staged (missing fields, ...), and what looks wrong in it."""
    systems_dir = req.systems_dir or description.systems_dir_for(req.results_dir)
    path = description.systems_file(systems_dir, system)
    if not path.is_file():
        return {}, [f"{path} not found: write it with python -m harness system --name {system} "
                    f"--systems-dir {systems_dir}, then fill in what it lacks"], []
    data = description.load(path)
    data.update(submitter=req.submitter, division=req.division)
    problems = [f"{path}: {line}" for line in description.check(data).lines()]
    if str(data.get("system_type", "")).strip() not in ("", "datacenter"):
        problems.append(f"{path}: system_type '{data['system_type']}': this harness runs the datacenter "
                        "scenarios (Offline, Server) only")
    framework, notes = str(data.get("framework", "")), []
    for backend in sorted({str(c.performance.backend.get("name")) for c in cells if c.performance}):
        if framework_of(backend).split(" ")[0].lower() not in framework.lower():
            notes.append(f"{path}: framework '{framework}' does not name the {backend} backend the runs used "
                         f"(e.g. '{framework_of(backend)}')")
    return data, problems, notes


def _check_request(req: Request) -> None:
    if req.division not in DIVISIONS:
        raise HarnessError(f"unknown division '{req.division}'", "use closed or open")
    if not _NAME.fullmatch(req.submitter):
        raise HarnessError(f"submitter '{req.submitter}' is not a plain name",
                           "letters, digits, '_', '.', '-', starting with a letter or digit (no spaces)")
    for folder in (req.out, req.full_logs):
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not req.merge:
            raise HarnessError(f"{folder} is not empty: nothing was staged",
                               "stage into a new folder (--out), or pass --merge to add these cells to that "
                               "tree (the same cells, systems files and code pointers are replaced, and listed)")


def _move_into_place(tmp: Path, out: Path, units: list[str], prefix: Path, merge: bool) -> list[str]:
    """Move the staged tree (or, when merging, each unit) into ``out``; return the units replaced."""
    replaced: list[str] = []
    if not merge or not out.exists():
        if out.exists():
            out.rmdir()  # empty: checked before
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
        return replaced
    for unit in units:
        src, dst = tmp / prefix / unit, out / prefix / unit
        if not src.exists():
            continue
        if dst.exists():
            replaced.append(str(prefix / unit))
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
    shutil.rmtree(tmp)
    return replaced


def _tree_cells(root: Path) -> dict[str, set[tuple[str, str]]]:
    cells: dict[str, set[tuple[str, str]]] = {}
    for scenario in (root / "results").glob("*/*/*"):
        if scenario.is_dir():
            cells.setdefault(scenario.parent.parent.name, set()).add((scenario.parent.name, scenario.name))
    return cells


def stage(req: Request) -> Report:
    _check_request(req)
    cells = collect(req.results_dir, req.rules, req.division, req.systems, req.with_failed_compliance)
    if not cells:
        raise HarnessError(f"no runs under {req.results_dir}" + (f" for {', '.join(req.systems)}" if req.systems
                                                               else ""),
                           "run the benchmarks first (python -m harness run ...), or point --results-dir at them")
    report = Report(req.out, req.full_logs)
    report.staged = [c for c in cells if not c.problems]
    report.refused = [c for c in cells if c.problems]
    if not report.staged:
        raise HarnessError("no cell can be staged; nothing was staged:\n  " + "\n  ".join(
            f"{c.name}: {'; '.join(c.problems)}" for c in report.refused), "complete the runs named above")
    systems: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for system in sorted({c.system for c in report.staged}):
        data, found, notes = _system_json(req, system, [c for c in report.staged if c.system == system])
        systems[system] = data
        problems += found
        report.notes += notes
    if problems:
        raise HarnessError("the systems description cannot go into a submission; nothing was staged:\n  "
                           + "\n  ".join(problems),
                           "edit the file (your values are kept when the machine is detected again)")
    tmp, tmp_logs = (p.with_name(f".{p.name}.staging") for p in (req.out, req.full_logs))
    for folder in (tmp, tmp_logs):
        if folder.exists():
            shutil.rmtree(folder)
    writer = _Writer(req, tmp, tmp_logs)
    try:
        for cell in report.staged:
            writer.cell(cell)
        for system, data in systems.items():
            writer.system(system, data)
        impls: dict[tuple[str, str], list[RunRecord]] = {}
        for cell in report.staged:
            assert cell.performance is not None
            impls.setdefault((cell.mlperf_model, str(cell.performance.backend.get("name"))), []).append(
                cell.performance)
        for (model, impl), records in sorted(impls.items()):
            writer.code_pointer(model, impl, records)
        prefix = Path(req.division) / req.submitter
        tmp.mkdir(parents=True, exist_ok=True)
        report.replaced = _move_into_place(tmp, req.out, writer.units, prefix, req.merge)
        if tmp_logs.exists():
            _move_into_place(tmp_logs, req.full_logs, writer.units, prefix, req.merge)
    finally:
        for folder in (tmp, tmp_logs):
            if folder.exists():
                shutil.rmtree(folder)
    loadgen_names = {c.mlperf_model: c.loadgen_name for c in cells}
    report.missing = missing_scenarios(req.rules, _tree_cells(req.out / req.division / req.submitter),
                                       loadgen_names)
    (req.out / REPORT).write_text(report_text(req, report))
    return report


def report_text(req: Request, report: Report) -> str:
    lines = [f"# Submission tree {req.division}/{req.submitter}: {report.state}", "",
             f"Staged from {req.results_dir} under the {req.rules.round} rules; the untruncated accuracy logs are "
             f"in {report.full_logs}. Check it with MLCommons' submission checker "
             f"(submission_checker.py --input {req.out} --version {req.rules.round} --submitter {req.submitter}).",
             "", "## Staged", ""]
    lines += [f"- {c.name}" + (f": {'; '.join(c.warnings)}" if c.warnings else "") for c in report.staged] or ["- none"]
    if report.refused:
        lines += ["", "## Refused (not in the tree)", ""]
        lines += [f"- {c.name}: {'; '.join(c.problems)}" for c in report.refused]
    if report.missing:
        lines += ["", f"## Missing for the {req.division} division", ""]
        lines += [f"- {m}: required scenario, no result staged" for m in report.missing]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    if report.replaced:
        lines += ["", "## Replaced in the existing tree", ""] + [f"- {r}" for r in report.replaced]
    return "\n".join(lines) + "\n"
