"""Regression checks on series of numbers: baseline, noise band and floor, validity, accuracy-log
changes and change points. A noisy but unchanged series is not flagged; a quiet one that drops is."""

from __future__ import annotations

import random

import pytest

from harness.errors import HarnessError
from harness.results.history.rows import RunRow
from harness.results.regression.changepoints import change_points
from harness.results.regression.detect import (
    METRICS,
    NEW,
    OK,
    REGRESSED,
    CorrectnessVerdict,
    Settings,
    judge,
    judge_correctness,
    judge_validity,
)

HEADLINE = next(m for m in METRICS if m.name == "headline")
P99 = next(m for m in METRICS if m.name == "p99_latency")


def noisy(seed: int, n: int, level: float = 1000.0, noise_pct: float = 8.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(level, level * noise_pct / 100) for _ in range(n)]


def test_a_noisy_unchanged_series_is_not_flagged() -> None:
    flagged = 0
    for seed in range(300):
        values = noisy(seed, 8)
        verdict = judge(HEADLINE, values[:7], values[7], Settings())
        assert verdict.band_pct is not None and verdict.band_pct > 3.0  # the series' own noise sets the band
        flagged += verdict.verdict == REGRESSED
    assert flagged / 300 < 0.05
    history = [920.0, 1080.0, 950.0, 1060.0, 910.0, 1040.0, 970.0]  # +-8%, like a shared machine
    assert judge(HEADLINE, history, 905.0, Settings()).verdict == OK


def test_a_quiet_series_that_drops_is_flagged_with_its_size() -> None:
    history = [1000.0, 1002.0, 998.0, 1001.0, 999.0]
    verdict = judge(HEADLINE, history, 900.0, Settings())
    assert verdict.verdict == REGRESSED
    assert verdict.baseline == 1000.0 and verdict.change_pct == pytest.approx(-10.0)
    assert verdict.band_pct == 3.0  # the floor: the series' noise is far below it
    assert judge(HEADLINE, history, 980.0, Settings()).verdict == OK  # -2% is inside the 3% floor
    assert judge(HEADLINE, history, 1100.0, Settings()).verdict == "improved"
    tighter = Settings(floors_pct={**Settings().floors_pct, "headline": 1.0})
    assert judge(HEADLINE, history, 980.0, tighter).verdict == REGRESSED


def test_lower_is_better_and_too_little_history() -> None:
    history = [10.0, 10.1, 9.9, 10.0]
    assert judge(P99, history, 12.0, Settings()).verdict == REGRESSED
    assert judge(P99, history, 8.0, Settings()).verdict == "improved"
    assert judge(P99, history[:2], 20.0, Settings()).verdict == NEW  # min_history 3
    assert judge(P99, [], 20.0, Settings()).verdict == NEW
    window = judge(HEADLINE, [100.0] * 20 + [50.0] * 7, 50.0, Settings())
    assert window.baseline == 50.0 and window.history == 7  # the last baseline_runs runs only


def test_validity() -> None:
    settings = Settings()
    assert judge_validity([True, True, True, False], False, settings).verdict == REGRESSED
    assert judge_validity([False, False, False], False, settings).verdict == OK
    assert judge_validity([False, False, False], True, settings).verdict == "improved"
    assert judge_validity([True], False, settings).verdict == NEW


def _accuracy_row(run_id: str, digest: str, engine: str = "") -> RunRow:
    return RunRow(uid=run_id, series="s", box="b", system="cpu", model="resnet50", mlperf_model="resnet50",
                  scenario="Offline", mode="accuracy", backend="tensorrt", precision="int8", weights_key="w",
                  dataset_key="d", engine_key=engine, run_id=run_id, started_at=run_id, ended_at=None,
                  status="complete", valid=None, headline=None, headline_unit=None, p99_latency_ms=None,
                  accuracy=76.0, accuracy_metric="acc", accuracy_passed=True, accuracy_hash=digest,
                  energy_j_per_sample=None, throttle_s=None, samples=None, git_commit=None, run_path=None, record={})


def _hash_verdict(history: list[RunRow], today: RunRow) -> CorrectnessVerdict:
    verdict = judge_correctness(history, today)
    assert verdict is not None
    return verdict


def test_accuracy_log_changes() -> None:
    history = [_accuracy_row("1", "aaa", "e1"), _accuracy_row("2", "aaa", "e1")]
    assert _hash_verdict(history, _accuracy_row("3", "aaa", "e1")).verdict == OK
    changed = _hash_verdict(history, _accuracy_row("3", "bbb", "e1"))
    assert changed.verdict == "changed" and "same weights, engine and dataset" in changed.text
    assert _hash_verdict(history, _accuracy_row("3", "bbb", "e2")).verdict == "engine_rebuilt"
    assert _hash_verdict([], _accuracy_row("3", "bbb")).verdict == NEW


def test_change_points_mark_where_a_shift_began() -> None:
    series = noisy(1, 10, noise_pct=1.0) + noisy(2, 4, level=800.0, noise_pct=1.0)
    found = change_points(series)
    assert [p.index for p in found] == [10]
    assert found[0].change_pct == pytest.approx(-20.0, abs=2.0)
    assert change_points(noisy(3, 30)) == []  # noise, no shift
    assert change_points([5.0] * 12) == []
    assert change_points([1.0, 2.0, 3.0]) == []  # too short to split


def test_settings_are_checked() -> None:
    with pytest.raises(HarnessError, match="unknown metric 'throughput'"):
        Settings(floors_pct={"throughput": 3.0})
    with pytest.raises(HarnessError, match="baseline_runs"):
        Settings(baseline_runs=0)


def test_throttling_is_evidence_next_to_a_regression() -> None:
    from harness.results.regression.assess import throttling_note

    def row(throttle: float | None) -> RunRow:
        r = _accuracy_row("x", "h")
        r.throttle_s = throttle
        r.record = {"telemetry": {"throttle_reasons_s": {"0": {"sw_thermal": 12.5}}}}
        return r

    assert throttling_note(row(12.5), [row(0.0), row(0.2)]) == \
        "GPU clocks throttled 12.5 s during the run (sw thermal; baseline runs: 0.1 s)"
    assert throttling_note(row(0.5), [row(0.0)]) == ""  # within a second of the usual
    assert throttling_note(row(None), []) == ""
