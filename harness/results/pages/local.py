"""Read this harness's results store for the pages: every run folder, what it holds, and what is missing.

A run folder is read from its files (run.json, mlperf_log_detail.txt, accuracy.txt), never trusted
blindly: a missing or truncated detail log, an interrupted run or an accuracy run without accuracy.txt
become problems shown on the pages instead of errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.results.accuracy import ACCURACY_TXT
from harness.results.explain import Verdict, judge_performance
from harness.results.logparse import DetailLog, cut_short, parse_detail_log
from harness.results.pages.facts import page_metric, performance_text
from harness.results.pages.summary import ScenarioResult
from harness.results.record import (
    RECORD_NAME,
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    RunRecord,
    died_text,
    owner_alive,
    read_record,
)
from harness.results.store import INCOMPLETE_MARKER

DETAIL_LOG = "mlperf_log_detail.txt"
RUN_PAGE = "run.html"
SUMMARY_PAGE = "summary.html"
INDEX_PAGE = "index.html"


@dataclass
class RunView:
    """One run folder as the pages see it."""

    run_dir: Path
    system: str
    mlperf_model: str
    scenario: str
    run_id: str
    record: RunRecord | None = None
    log: DetailLog | None = None
    verdict: Verdict | None = None
    accuracy_txt: str | None = None
    problems: list[str] = field(default_factory=list)
    # run.json is there but not a record (cut, or JSON of the wrong shape): the run shows as damaged.
    damaged: bool = False
    # A run left "running" whose process is gone (read once, when the folder is read).
    owner_gone: bool = False

    @property
    def mode(self) -> str:
        if self.record is not None:
            return self.record.mode
        return "accuracy" if "-accuracy" in self.run_id else "performance"

    @property
    def is_compliance(self) -> bool:
        """A compliance test's run (TEST01...): never the cell's performance result."""
        return self.record is not None and bool(self.record.compliance)

    @property
    def started_at(self) -> str:
        if self.record is not None:
            return self.record.started_at
        try:  # run ids start with the local start time
            return datetime.strptime(self.run_id[:15], "%Y%m%d-%H%M%S").astimezone(timezone.utc).isoformat()
        except ValueError:
            return self.run_id

    @property
    def status(self) -> str:
        incomplete = (self.run_dir / INCOMPLETE_MARKER).exists()
        if self.record is None:
            return "damaged" if self.damaged else ("incomplete" if incomplete else "unknown")
        if self.owner_gone:
            return STATUS_INTERRUPTED
        return "incomplete" if incomplete and self.record.status == STATUS_COMPLETE else self.record.status

    @property
    def complete(self) -> bool:
        return self.status == STATUS_COMPLETE

    @property
    def valid(self) -> bool | None:
        """Performance: VALID per the detail log. Accuracy: whether the targets were met."""
        if self.mode == "accuracy":
            if self.record is None or not self.record.accuracy or self.accuracy_txt is None:
                return None
            return bool(self.record.accuracy.get("passed"))
        return self.verdict.valid if self.verdict is not None else None

    @property
    def page(self) -> Path:
        return self.run_dir / RUN_PAGE

    def metric(self) -> tuple[str, float | None, str]:
        if self.log is None:
            return "", None, ""
        return page_metric(self.log, self.scenario)


def read_run(run_dir: Path, system: str, mlperf_model: str, scenario: str) -> RunView:
    view = RunView(run_dir, system, mlperf_model, scenario, run_dir.name)
    try:
        view.record = read_record(run_dir)
    except FileNotFoundError:
        view.problems.append(f"{RECORD_NAME} is missing: the harness did not record this run")
    except (OSError, ValueError, TypeError) as exc:
        view.damaged = True
        view.problems.append(f"{RECORD_NAME} is damaged ({exc}): this run is not a result")
    marker = run_dir / INCOMPLETE_MARKER
    if view.record is not None and view.record.status == STATUS_RUNNING and owner_alive(view.record) is False:
        view.owner_gone = True
        view.problems.append(died_text(view.record))
    elif marker.exists():
        first = marker.read_text(errors="replace").strip().splitlines()
        view.problems.append(first[0] if first else "the run did not finish: it is not a result")
    detail = run_dir / DETAIL_LOG
    if not detail.is_file():
        view.problems.append(f"{DETAIL_LOG} is missing: LoadGen did not finish writing this run")
    else:
        view.log = parse_detail_log(detail)
        cut = cut_short(view.log, view.mode)
        if cut is not None:
            view.problems.append(f"{DETAIL_LOG} {cut}")
            if view.mode == "performance" and "result_validity" not in view.log:
                view.problems.append(f"{DETAIL_LOG} has no result_validity line: the log is truncated or the run "
                                     "was cut short")
        elif view.mode == "performance":  # accuracy-mode logs carry no validity
            view.verdict = judge_performance(view.log, scenario)
    if view.mode == "accuracy":
        txt = run_dir / ACCURACY_TXT
        if txt.is_file():
            view.accuracy_txt = txt.read_text(errors="replace")
        elif view.complete or view.record is None:
            view.problems.append(f"{ACCURACY_TXT} is missing: the accuracy check did not run to the end; "
                                 "rerun with --mode accuracy")
    return view


def scan(results_dir: Path) -> dict[str, dict[str, dict[str, list[RunView]]]]:
    """runs[system][mlperf model][scenario] -> run views, oldest first."""
    runs: dict[str, dict[str, dict[str, list[RunView]]]] = {}
    for run_dir in sorted(results_dir.glob("*/*/*/runs/*")):
        if not run_dir.is_dir():
            continue
        scenario_dir = run_dir.parent.parent
        system, model, scenario = scenario_dir.parent.parent.name, scenario_dir.parent.name, scenario_dir.name
        view = read_run(run_dir, system, model, scenario)
        runs.setdefault(system, {}).setdefault(model, {}).setdefault(scenario, []).append(view)
    for per_model in runs.values():
        for per_scenario in per_model.values():
            for name, views in per_scenario.items():
                per_scenario[name] = sorted(views, key=lambda v: (v.started_at, v.run_id))
    return runs


def latest(views: list[RunView], mode: str, valid_only: bool = False) -> RunView | None:
    for view in reversed(views):
        if view.mode != mode or not view.complete or view.is_compliance:
            continue
        if valid_only and view.valid is not True:
            continue
        return view
    return None


def last_run(views: list[RunView], mode: str) -> RunView | None:
    """The newest run in ``mode`` whatever its state (compliance runs excluded)."""
    return next((v for v in reversed(views) if v.mode == mode and not v.is_compliance), None)


def latest_or_last(views: list[RunView], mode: str) -> RunView | None:
    """The newest complete run in ``mode``, else the newest run at all: what a cell without a VALID one shows."""
    return latest(views, mode) or last_run(views, mode)


def why_not_valid(view: RunView) -> str:
    """A run that is no VALID result, in a few words: INVALID, its first problem, or its state."""
    return "INVALID" if view.valid is False else (view.problems[0] if view.problems else view.status)


def relative(target: Path, page_dir: Path) -> str:
    return Path(os.path.relpath(target, page_dir)).as_posix()


def stamp_of(view: RunView) -> str:
    record = view.record
    if record is None:
        return "not recorded by the harness"
    if record.comparable.get("submission_grade"):
        return ""
    return "not comparable with MLPerf results: " + "; ".join(record.comparable.get("reasons", []))


def accuracy_text(view: RunView | None) -> str:
    if view is None or view.record is None or not view.record.accuracy:
        return ""
    metrics: dict[str, Any] = view.record.accuracy.get("metrics", {})
    return ", ".join(f"{k}: {round(float(v), 5)}" for k, v in metrics.items() if isinstance(v, (int, float)))


def scenario_result(views: list[RunView], scenario: str, page_dir: Path) -> ScenarioResult:
    """The summary cell: the latest VALID performance run, or what is missing."""
    best = latest(views, "performance", valid_only=True)
    acc = accuracy_text(latest(views, "accuracy"))
    if best is None:
        last = latest_or_last(views, "performance")
        if last is None:
            return ScenarioResult(problem="no performance run yet", accuracy_text=acc)
        return ScenarioResult(problem=f"no VALID run (latest: {why_not_valid(last)})",
                              href=relative(last.page, page_dir), run_id=last.run_id, accuracy_text=acc)
    key, value, unit = best.metric()
    if value is None:
        return ScenarioResult(problem=f"{DETAIL_LOG} of the latest VALID run has no {key}",
                              href=relative(best.page, page_dir), run_id=best.run_id, accuracy_text=acc)
    return ScenarioResult(unit=unit, value_text=performance_text(value), value=value, valid=True,
                          href=relative(best.page, page_dir), stamp=stamp_of(best), accuracy_text=acc,
                          run_id=best.run_id)
