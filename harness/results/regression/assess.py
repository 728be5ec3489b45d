"""Today's run of a series against its history: every metric, validity, the accuracy log, and what
changed on the machine or in the knobs since the baseline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from harness.machine.state import change_text, changes
from harness.results.history.rows import RunRow
from harness.results.history.store import HistoryStore
from harness.results.record import STATUS_COMPLETE
from harness.results.regression import detect
from harness.results.regression.detect import (
    IMPROVED,
    NEW,
    OK,
    REGRESSED,
    CorrectnessVerdict,
    MetricVerdict,
    Settings,
    ValidityVerdict,
)


def good_runs(rows: list[RunRow], mode: str) -> list[RunRow]:
    """Runs a baseline may use: complete, and VALID for performance runs."""
    return [r for r in rows if r.status == STATUS_COMPLETE and (mode != "performance" or r.valid is True)]


def record_state(record: dict[str, Any]) -> dict[str, Any]:
    """What a run record says about its machine and settings, flat: the stand-in for a night's
    machine state where a run has none (imported runs), and the knobs for every run."""
    host = (record.get("system_info") or {}).get("host") or {}
    gpus = host.get("gpus") or []
    state: dict[str, Any] = {"git_commit": (record.get("git") or {}).get("commit") or "unknown"}
    if gpus:
        state["driver"] = gpus[0].get("driver") or "n/a"
    for name, version in sorted((record.get("versions") or {}).items()):
        state[name if name in ("tensorrt", "torch", "cuda") else f"version {name}"] = version
    for name, value in sorted((record.get("knobs") or {}).items()):
        state[f"knob {name}"] = value
    return state


@dataclass
class Assessment:
    row: RunRow
    metrics: list[MetricVerdict]
    validity: ValidityVerdict | None
    correctness: CorrectnessVerdict | None
    baseline: list[RunRow] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = [f"{m.label} {m.change_pct:+.1f}% (baseline {m.baseline:.6g}, today {m.today:.6g}, band "
               f"±{m.band_pct:.1f}%)" if m.change_pct is not None else f"{m.label} got worse"
               for m in self.metrics if m.verdict == REGRESSED]
        if self.validity is not None and self.validity.verdict == REGRESSED:
            out.append(f"validity {self.validity.text}")
        if self.correctness is not None and self.correctness.verdict == "changed":
            out.append("correctness: " + self.correctness.text)
        return out

    @property
    def verdict(self) -> str:
        if self.problems:
            return REGRESSED
        verdicts = [m.verdict for m in self.metrics] + ([self.validity.verdict] if self.validity else [])
        if verdicts and all(v == NEW for v in verdicts):
            return NEW
        if IMPROVED in verdicts:
            return IMPROVED
        return OK if verdicts or self.correctness else NEW


def assess(store: HistoryStore, row: RunRow, settings: Settings, state_today: dict[str, Any] | None = None
           ) -> Assessment:
    """``row`` (already stored) against the earlier runs of its series; runs of the same night (a first
    attempt, when this is the re-run) are not part of its baseline."""
    history = [r for r in store.series_rows(row.series, before=row.started_at)
               if r.uid != row.uid and (row.night_id is None or r.night_id != row.night_id)]
    good = good_runs(history, row.mode)
    verdicts = []
    for metric in detect.METRICS:
        if not metric.applies(row):
            continue
        values = [v for v in (metric.value(r) for r in good) if v is not None]
        verdicts.append(detect.judge(metric, values, metric.value(row), settings, metric.unit_of(row)))
    validity = None
    if row.mode == "performance":
        known = [bool(r.valid) for r in history if r.status == STATUS_COMPLETE and r.valid is not None]
        validity = detect.judge_validity(known, row.valid, settings)
    correctness = detect.judge_correctness(history, row)
    window = good[-settings.baseline_runs:]
    reference = window[-1] if window else (history[-1] if history else None)
    found: list[str] = []
    if reference is not None:
        found = [change_text(c) for c in changes(record_state(reference.record), record_state(row.record))]
        if reference.night_id is not None and state_today:
            before = store.nights_by_id([reference.night_id]).get(reference.night_id, ("", {}))[1]
            found += [t for t in (change_text(c) for c in changes(before, state_today)) if t not in found]
    throttled = throttling_note(row, window)
    if throttled:
        found.append(throttled)
    return Assessment(row, verdicts, validity, correctness, window, found)


def throttling_note(row: RunRow, window: list[RunRow]) -> str:
    """A line of evidence when the GPUs' clocks were held back (power or thermal limits) for clearly
    longer than in the baseline's runs."""
    if row.throttle_s is None or row.throttle_s <= 0:
        return ""
    before = [r.throttle_s for r in window if r.throttle_s is not None]
    usual = statistics.median(before) if before else 0.0
    if row.throttle_s < usual + 1.0:
        return ""
    reasons = ((row.record.get("telemetry") or {}).get("throttle_reasons_s") or {})
    names = sorted({name.replace("_", " ") for per in reasons.values() for name in per})
    return (f"GPU clocks throttled {row.throttle_s:g} s during the run ({', '.join(names) or 'power or thermal'}; "
            f"baseline runs: {usual:g} s)")
