"""Judge one metric, validity, or the accuracy log of today's run against the series' history.

The baseline is the median of the last N good runs. The noise is the series' own: the standard
deviation of those runs relative to their median. A change counts when it is worse than both
``noise_sigmas`` x the noise and the metric's floor (3% by default): a series that has always moved by
8% is not flagged for moving 8% again, and a very quiet series is not flagged for moving 0.5%.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.results.history.rows import RunRow
from harness.results.record import STATUS_COMPLETE

OK, REGRESSED, IMPROVED, NEW, MISSING = "ok", "regressed", "improved", "new", "missing"


def _performance(row: RunRow) -> bool:
    return row.mode == "performance"


@dataclass(frozen=True)
class Metric:
    name: str
    column: str
    higher_is_better: bool
    label: str
    applies: Callable[[RunRow], bool]
    unit: str = ""

    def value(self, row: RunRow) -> float | None:
        value = getattr(row, self.column)
        return None if value is None else float(value)

    def unit_of(self, row: RunRow | None) -> str:
        if self.column == "headline" and row is not None:
            return row.headline_unit or ""
        return self.unit


METRICS: tuple[Metric, ...] = (
    Metric("headline", "headline", True, "headline", _performance),
    Metric("p99_latency", "p99_latency_ms", False, "p99 latency", lambda r: _performance(r) and r.scenario == "Server",
           "ms"),
    Metric("accuracy", "accuracy", True, "accuracy", lambda r: r.mode == "accuracy"),
    Metric("energy_per_sample", "energy_j_per_sample", False, "energy per sample",
           lambda r: _performance(r) and r.energy_j_per_sample is not None, "J"),
)
METRIC_NAMES = tuple(m.name for m in METRICS)


@dataclass(frozen=True)
class Settings:
    """How the nightly judges (the matrix's ``detection`` section overrides any of these)."""

    baseline_runs: int = 7
    min_history: int = 3
    noise_sigmas: float = 3.0
    floors_pct: dict[str, float] = field(default_factory=lambda: {name: 3.0 for name in METRIC_NAMES})

    def __post_init__(self) -> None:
        if self.baseline_runs < 1 or self.min_history < 1:
            raise HarnessError(f"detection: baseline_runs and min_history must be >= 1, got {self.baseline_runs} "
                               f"and {self.min_history}")
        if self.noise_sigmas < 0:
            raise HarnessError(f"detection: noise_sigmas must be >= 0, got {self.noise_sigmas}")
        for name, floor in self.floors_pct.items():
            if name not in METRIC_NAMES:
                raise HarnessError(f"detection: floors_pct names an unknown metric '{name}'",
                                   "metrics: " + ", ".join(METRIC_NAMES))
            if floor < 0:
                raise HarnessError(f"detection: floors_pct.{name} must be >= 0, got {floor}")

    def floor(self, metric: str) -> float:
        return self.floors_pct.get(metric, 3.0)


@dataclass
class MetricVerdict:
    metric: str
    label: str
    unit: str
    higher_is_better: bool
    today: float | None
    baseline: float | None = None
    change_pct: float | None = None
    noise_pct: float | None = None
    band_pct: float | None = None
    history: int = 0
    low: float | None = None  # the band around the baseline, in the metric's unit
    high: float | None = None
    verdict: str = NEW

    @property
    def text(self) -> str:
        if self.change_pct is None:
            return self.verdict
        return f"{self.label} {self.change_pct:+.1f}% (band ±{self.band_pct:.1f}%)"


def noise_pct(values: Sequence[float], center: float) -> float:
    """Standard deviation relative to the center, in percent (0 for fewer than two values)."""
    if len(values) < 2 or center == 0:
        return 0.0
    return statistics.stdev(values) / abs(center) * 100.0


def judge(metric: Metric, history: Sequence[float], today: float | None, settings: Settings,
          unit: str = "") -> MetricVerdict:
    """Today's value against the median of the last ``baseline_runs`` values of ``history`` (oldest first)."""
    out = MetricVerdict(metric.name, metric.label, unit or metric.unit, metric.higher_is_better, today)
    window = list(history)[-settings.baseline_runs:]
    out.history = len(window)
    if not window:
        out.verdict = NEW if today is not None else MISSING
        return out
    baseline = statistics.median(window)
    out.baseline = baseline
    out.noise_pct = round(noise_pct(window, baseline), 3)
    out.band_pct = round(max(settings.floor(metric.name), settings.noise_sigmas * out.noise_pct), 3)
    out.low = baseline - abs(baseline) * out.band_pct / 100.0
    out.high = baseline + abs(baseline) * out.band_pct / 100.0
    if today is None:
        out.verdict = MISSING
        return out
    if baseline == 0:
        out.change_pct = None
        worse = today < 0 if metric.higher_is_better else today > 0
        better = today > 0 if metric.higher_is_better else today < 0
    else:
        out.change_pct = round((today - baseline) / abs(baseline) * 100.0, 3)
        signed = out.change_pct if metric.higher_is_better else -out.change_pct
        worse, better = signed < -out.band_pct, signed > out.band_pct
    if len(window) < settings.min_history:
        out.verdict = NEW  # measured, but too little history to call it
    else:
        out.verdict = REGRESSED if worse else IMPROVED if better else OK
    return out


@dataclass
class ValidityVerdict:
    today: bool | None
    baseline_valid: bool | None
    history: int
    verdict: str

    @property
    def text(self) -> str:
        now = "VALID" if self.today else "INVALID" if self.today is False else "no verdict"
        if self.verdict == REGRESSED:
            return f"VALID -> {now}"
        if self.verdict == IMPROVED:
            return f"INVALID -> {now}"
        return now


def judge_validity(history: Sequence[bool], today: bool | None, settings: Settings) -> ValidityVerdict:
    """VALID turning INVALID: the last runs were mostly VALID and today's is not."""
    window = list(history)[-settings.baseline_runs:]
    if not window:
        return ValidityVerdict(today, None, 0, NEW if today is not None else MISSING)
    baseline = sum(window) * 2 > len(window)
    if today is None:
        return ValidityVerdict(today, baseline, len(window), MISSING)
    if len(window) < settings.min_history:
        return ValidityVerdict(today, baseline, len(window), NEW)
    verdict = OK if today == baseline else (REGRESSED if baseline else IMPROVED)
    return ValidityVerdict(today, baseline, len(window), verdict)


@dataclass
class CorrectnessVerdict:
    today_hash: str | None
    previous_hash: str | None
    previous_run: str | None
    same_engine: bool
    verdict: str  # ok | changed | new | engine_rebuilt

    @property
    def text(self) -> str:
        if self.verdict == "changed":
            return (f"accuracy log changed for the same weights, engine and dataset: "
                    f"{(self.previous_hash or '')[:12]} -> {(self.today_hash or '')[:12]}")
        if self.verdict == "engine_rebuilt":
            return "accuracy log changed with a rebuilt engine (not a correctness change by itself)"
        return {"ok": "accuracy log unchanged", "new": "first accuracy log of this series"}.get(self.verdict,
                                                                                               self.verdict)


def judge_correctness(history: Sequence[RunRow], today: RunRow) -> CorrectnessVerdict | None:
    """Accuracy runs: today's accuracy-log hash against the latest earlier one of the series."""
    if today.mode != "accuracy" or not today.accuracy_hash:
        return None
    earlier = [r for r in history if r.status == STATUS_COMPLETE and r.accuracy_hash]
    if not earlier:
        return CorrectnessVerdict(today.accuracy_hash, None, None, True, NEW)
    last = earlier[-1]
    same_engine = last.engine_key == today.engine_key
    if last.accuracy_hash == today.accuracy_hash:
        verdict = OK
    else:
        verdict = "changed" if same_engine else "engine_rebuilt"
    return CorrectnessVerdict(today.accuracy_hash, last.accuracy_hash, last.run_id, same_engine, verdict)
