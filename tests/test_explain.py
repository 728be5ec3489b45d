"""Headline and INVALID explanations from detail logs written by the real LoadGen."""

from __future__ import annotations

import json
from pathlib import Path

from harness.results.explain import headline, judge_performance
from harness.results.logparse import latency_summary_ns, parse_detail_log, parse_detail_text

DATA = Path(__file__).parent / "data" / "loadgen"


def test_server_over_latency_says_which_bound_by_how_much_and_what_to_do() -> None:
    log = parse_detail_log(DATA / "server_latency_invalid_detail.txt")
    verdict = judge_performance(log, "Server")
    assert not verdict.valid and verdict.unit == "queries/s"
    assert verdict.value == log.get("result_completed_samples_per_sec")
    assert verdict.constraints["performance"] is False
    text = [str(f) for f in verdict.failures]
    assert len(text) == 1  # early stopping fails too, but only as a consequence of the latency
    p99_ms = log.get("result_99.00_percentile_latency_ns") / 1e6
    assert f"p99 latency {p99_ms:.1f} ms > 15.0 ms bound at 200 queries/s" in text[0]
    assert "cannot meet the bound at any load" in text[0]  # every query took 20 ms


def test_server_too_short_for_early_stopping() -> None:
    log = parse_detail_log(DATA / "server_early_stopping_detail.txt")
    verdict = judge_performance(log, "Server")
    assert not verdict.valid and verdict.constraints == {
        "min_duration": True, "min_queries": True, "early_stopping": False, "performance": True}
    (failure,) = verdict.failures
    assert failure.constraint == "early_stopping" and "more queries" in failure.detail
    assert "--min-duration-ms" in failure.fix


def test_offline_finished_early_suggests_a_higher_expected_qps() -> None:
    log = parse_detail_log(DATA / "offline_short_detail.txt")
    key, value, unit = headline(log, "Offline")
    assert key == "result_samples_per_second" and unit == "samples/s" and value and value > 1000
    verdict = judge_performance(log, "Offline")
    (failure,) = verdict.failures
    assert failure.constraint == "min_duration"
    assert "expected QPS (1,000)" in failure.detail and "raise --target-qps to about" in failure.fix
    lat = latency_summary_ns(log)
    assert set(lat) >= {"min", "max", "mean", "p50", "p90", "p99"}


def test_truncated_log_and_errors() -> None:
    text = (DATA / "server_latency_invalid_detail.txt").read_text()
    cut = text[: text.index('"key": "result_validity"') - 40]
    log = parse_detail_text(cut)
    verdict = judge_performance(log, "Server")
    assert not verdict.valid and verdict.failures[0].constraint == "log"
    error_line = (':::MLLOG {"key": "error_invalid_config", "value": "Multiple conf files are used", '
                  '"time_ms": 0.0, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", '
                  '"metadata": {"is_error": true, "is_warning": false}}')
    log = parse_detail_text(error_line + "\n" + text.replace('"value": "INVALID"', '"value": "VALID"'))
    verdict = judge_performance(log, "Server")
    assert not verdict.valid and any(f.constraint == "errors" for f in verdict.failures)


def test_token_models_report_tokens_per_second() -> None:
    log = parse_detail_text(':::MLLOG {"key": "result_inferred_tokens_per_second", "value": 2593.65, '
                            '"metadata": {}}\n:::MLLOG {"key": "result_samples_per_second", "value": 37.5, '
                            '"metadata": {}}')
    assert headline(log, "Offline") == ("result_inferred_tokens_per_second", 2593.65, "tokens/s")
    assert judge_performance(log, "Offline").samples_per_s == 37.5


def test_a_short_token_run_suggests_a_target_in_samples_per_second() -> None:
    def line(key: str, value: object) -> str:
        return f':::MLLOG {{"key": "{key}", "value": {json.dumps(value)}, "metadata": {{}}}}'

    log = parse_detail_text("\n".join([
        line("result_inferred_tokens_per_second", 2593.65), line("result_samples_per_second", 37.5),
        line("result_validity", "INVALID"), line("result_min_duration_met", False),
        line("result_max_latency_ns", 4.0e9), line("effective_min_duration_ms", 600000),
        line("effective_target_qps", 10.0)]))
    (failure,) = judge_performance(log, "Offline").failures
    assert "(37.5 samples/s)" in str(failure) and "about 41.2" in str(failure)  # not 69x that, in tokens/s
