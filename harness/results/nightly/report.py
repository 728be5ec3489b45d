"""Write one night's report: index.html, summary.json and the history plots, from the cells' outcomes."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results.history.rows import RunRow
from harness.results.history.store import HistoryStore
from harness.results.nightly.plots import PlotPoint, PlotSpec, draw
from harness.results.pages.local import relative
from harness.results.regression.assess import Assessment, good_runs
from harness.results.regression.changepoints import change_points
from harness.results.regression.detect import METRICS, REGRESSED, Metric, MetricVerdict, Settings

SUMMARY_FILE = "summary.json"
PAGE_FILE = "index.html"
# Cell verdicts, worst first: failed and regressed set the exit code.
FAILED, RECOVERED = "failed", "recovered"
ALERTS = (FAILED, REGRESSED)


@dataclass
class AttemptView:
    attempt: int
    run_id: str | None
    run_dir: Path | None
    status: str
    exit_code: int | None
    verdict: str
    note: str = ""


@dataclass
class CellOutcome:
    name: str
    model: str
    scenario: str
    mode: str
    backend: str
    attempts: list[AttemptView] = field(default_factory=list)
    assessment: Assessment | None = None  # of the last attempt
    first: Assessment | None = None  # of the first attempt, when the cell was re-run
    failure: str | None = None
    verdict: str = "new"

    @property
    def rerun(self) -> bool:
        return len(self.attempts) > 1


@dataclass
class NightInfo:
    night: str
    box: str
    matrix: str
    store: str
    night_id: int
    started_at: str
    machine_state: dict[str, Any]
    machine_changes: list[str]
    previous_night: str | None
    settings: Settings


def _rel(target: Path, start: Path) -> str:
    return relative(target.resolve(), start.resolve())


def _night_labels(store: HistoryStore, rows: list[RunRow]) -> dict[str, str]:
    nights = {i: night for i, (night, _) in store.nights_by_id(r.night_id for r in rows
                                                                 if r.night_id is not None).items()}
    return {r.uid: nights.get(r.night_id, r.started_at[:10]) if r.night_id is not None else r.started_at[:10]
            for r in rows}


def _metric_json(verdict: MetricVerdict) -> dict[str, Any]:
    keys = ("metric", "label", "unit", "higher_is_better", "baseline", "today", "change_pct", "noise_pct", "band_pct",
            "history", "low", "high", "verdict")
    return {k: getattr(verdict, k) for k in keys}


def _with_values(rows: list[RunRow], metric: Metric) -> list[tuple[RunRow, float]]:
    out = []
    for row in rows:
        value = metric.value(row)
        if value is not None:
            out.append((row, value))
    return out


def _series_plots(store: HistoryStore, outcome: CellOutcome, info: NightInfo, out_dir: Path
                  ) -> dict[str, dict[str, Any]]:
    """Per metric of the cell: its plot (relative path) and the change points over the whole history."""
    assert outcome.assessment is not None
    row = outcome.assessment.row
    rows = store.series_rows(row.series)
    labels = _night_labels(store, rows)
    tonight = [r for r in rows if r.night_id == info.night_id and r.cell == outcome.name]
    earlier = [r for r in good_runs(rows, row.mode) if r.night_id != info.night_id]
    shown = earlier + tonight
    tonight_uids = {r.uid for r in tonight}
    good_all = earlier + good_runs(tonight, row.mode)
    out: dict[str, dict[str, Any]] = {}
    for verdict in outcome.assessment.metrics:
        metric = next(m for m in METRICS if m.name == verdict.metric)
        points = _with_values(shown, metric)
        if not points:
            continue
        good_values = _with_values(good_all, metric)
        found = change_points([v for _, v in good_values], info.settings.floor(metric.name))
        position = {r.uid: i for i, (r, _) in enumerate(points)}
        marks, listed = [], []
        for cp in found:
            first = good_values[cp.index][0]
            if first.uid in position:
                marks.append((position[first.uid], f"{cp.change_pct:+.1f}%"))
            listed.append({"run_id": first.run_id, "night": labels.get(first.uid), "before": float(cp.before),
                           "after": float(cp.after), "change_pct": float(cp.change_pct)})
        note = f"today {verdict.change_pct:+.1f}%" if verdict.change_pct is not None else ""
        spec = PlotSpec(f"{outcome.name}: {metric.label}", verdict.unit,
                        [PlotPoint(labels.get(r.uid, ""), v, r.uid in tonight_uids) for r, v in points],
                        (verdict.low, verdict.high) if verdict.low is not None and verdict.high is not None else None,
                        verdict.baseline, marks, verdict.verdict == REGRESSED, note)
        path = draw(spec, out_dir / "plots" / f"{outcome.name}-{metric.name}.svg")
        out[metric.name] = {"plot": _rel(path, out_dir), "change_points": listed}
    return out


def _attempt_json(attempt: AttemptView, out_dir: Path) -> dict[str, Any]:
    page = attempt.run_dir / "run.html" if attempt.run_dir is not None else None
    return {"attempt": attempt.attempt, "run_id": attempt.run_id, "status": attempt.status,
            "exit_code": attempt.exit_code, "verdict": attempt.verdict, "note": attempt.note,
            "run_dir": str(attempt.run_dir) if attempt.run_dir else None,
            "run_page": _rel(page, out_dir) if page is not None and page.is_file() else None}


def _cell_json(store: HistoryStore, outcome: CellOutcome, info: NightInfo, out_dir: Path) -> dict[str, Any]:
    a = outcome.assessment
    plots = _series_plots(store, outcome, info, out_dir) if a is not None else {}
    metrics = []
    for verdict in a.metrics if a is not None else []:
        metrics.append({**_metric_json(verdict), **plots.get(verdict.metric, {"plot": None, "change_points": []})})
    return {
        "name": outcome.name, "model": outcome.model, "scenario": outcome.scenario, "mode": outcome.mode,
        "backend": outcome.backend, "verdict": outcome.verdict, "rerun": outcome.rerun,
        "series": a.row.key.label if a is not None else None,
        "attempts": [_attempt_json(t, out_dir) for t in outcome.attempts],
        "metrics": metrics,
        "validity": None if a is None or a.validity is None else {
            "today": a.validity.today, "baseline_valid": a.validity.baseline_valid, "history": a.validity.history,
            "verdict": a.validity.verdict, "text": a.validity.text},
        "correctness": None if a is None or a.correctness is None else {
            "verdict": a.correctness.verdict, "text": a.correctness.text, "today_hash": a.correctness.today_hash,
            "previous_hash": a.correctness.previous_hash, "previous_run": a.correctness.previous_run},
        "problems": (a.problems if a is not None else []) + ([outcome.failure] if outcome.failure else []),
        "first_attempt_problems": outcome.first.problems if outcome.first is not None else [],
        "changes": a.changes if a is not None else [],
        "baseline_runs": [r.run_id for r in a.baseline] if a is not None else [],
    }


def exit_code(outcomes: list[CellOutcome]) -> int:
    return 1 if any(o.verdict in ALERTS for o in outcomes) else 0


def write_report(out_dir: Path, info: NightInfo, outcomes: list[CellOutcome], store: HistoryStore,
                 results_dir: Path) -> tuple[Path, Path, dict[str, Any]]:
    """index.html, summary.json (and plots/) in ``out_dir``; returns both paths and the summary."""
    from harness.results.pages.render import write_page

    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "plots", ignore_errors=True)  # an earlier report of the same night
    cells = [_cell_json(store, o, info, out_dir) for o in outcomes]
    code = exit_code(outcomes)
    summary = {
        "night": info.night, "box": info.box, "matrix": info.matrix, "store": info.store,
        "started_at": info.started_at, "exit_code": code,
        "verdicts": dict(Counter(o.verdict for o in outcomes)),
        "regressions": [o.name for o in outcomes if o.verdict in ALERTS],
        "detection": {"baseline_runs": info.settings.baseline_runs, "min_history": info.settings.min_history,
                      "noise_sigmas": info.settings.noise_sigmas, "floors_pct": info.settings.floors_pct},
        "machine_state": info.machine_state, "previous_night": info.previous_night,
        "machine_changes": info.machine_changes, "cells": cells,
    }
    summary_path = out_dir / SUMMARY_FILE
    tmp = summary_path.with_name(f".{SUMMARY_FILE}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(summary_path)
    index = results_dir / "index.html"
    page = write_page(out_dir / PAGE_FILE, "nightly.html", title=f"Nightly {info.night} on {info.box}",
                      summary=summary, index_href=_rel(index, out_dir) if index.is_file() else None)
    return page, summary_path, summary
