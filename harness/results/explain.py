"""Headline metric and validity of a run, with INVALID explained in plain words and a fix."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.results.logparse import DetailLog


@dataclass(frozen=True)
class Failure:
    constraint: str
    detail: str
    fix: str

    def __str__(self) -> str:
        return f"{self.detail}: {self.fix}" if self.fix else self.detail


@dataclass
class Verdict:
    metric: str
    value: float | None
    unit: str
    valid: bool
    failures: list[Failure] = field(default_factory=list)
    constraints: dict[str, bool] = field(default_factory=dict)
    # Beside a tokens/s headline (GPT-J): the samples/s (Offline) or completed queries/s (Server) it came from.
    samples_per_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [asdict(f) for f in self.failures]
        data["explanation"] = [str(f) for f in self.failures]
        return data


def headline(log: DetailLog, scenario: str) -> tuple[str, float | None, str]:
    """(detail-log key, value, unit) of the number MLPerf reports for this scenario."""
    if scenario == "Offline":
        if "result_inferred_tokens_per_second" in log:
            key, unit = "result_inferred_tokens_per_second", "tokens/s"
        else:
            key, unit = "result_samples_per_second", "samples/s"
    else:
        if "result_inferred_completed_tokens_per_second" in log:
            key, unit = "result_inferred_completed_tokens_per_second", "tokens/s"
        else:
            key, unit = "result_completed_samples_per_sec", "queries/s"
    value = log.get(key)
    return key, (float(value) if isinstance(value, (int, float)) else None), unit


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.1f} ms" if ns < 1e10 else f"{ns / 1e9:.1f} s"


def _fmt_qps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def judge_performance(log: DetailLog, scenario: str) -> Verdict:
    key, value, unit = headline(log, scenario)
    validity = log.get("result_validity")
    constraints = {
        name: bool(log.get(k))
        for name, k in (("min_duration", "result_min_duration_met"), ("min_queries", "result_min_queries_met"),
                        ("early_stopping", "early_stopping_met"), ("performance", "result_perf_constraints_met"))
        if k in log
    }
    verdict = Verdict(key, value, unit, validity == "VALID", constraints=constraints)
    if unit == "tokens/s":
        rate = log.get("result_samples_per_second" if scenario == "Offline" else "result_completed_samples_per_sec")
        verdict.samples_per_s = float(rate) if isinstance(rate, (int, float)) else None
    failures = verdict.failures
    if validity is None:
        failures.append(Failure("log", "the detail log has no result_validity line (run cut short?)",
                                "rerun; an interrupted run is never a result"))
    if log.errors:
        failures.append(Failure("errors", f"LoadGen logged {len(log.errors)} error(s), e.g. {log.errors[0]}",
                                "fix the cause; the submission checker rejects logs with errors"))
        verdict.valid = False
    target_qps = float(log.get("effective_target_qps") or 0)
    if scenario == "Server":
        _server_failures(log, failures, constraints, target_qps)
    else:
        _offline_failures(log, failures, constraints, target_qps, value)
    if not constraints.get("min_queries", True):
        failures.append(Failure(
            "min_queries", f"only {log.get('result_query_count')} queries ran, fewer than the minimum "
            f"{log.get('effective_min_query_count')}", "run longer (--min-duration-ms) or at a higher --target-qps"))
    return verdict


def _server_failures(log: DetailLog, failures: list[Failure], constraints: dict[str, bool],
                     target_qps: float) -> None:
    bound = float(log.get("effective_target_latency_ns") or 0)
    pct = float(log.get("effective_target_latency_percentile") or 0.99)
    pct_name = f"p{pct * 100:g}"
    p_value = log.get(f"result_{pct * 100:.2f}_percentile_latency_ns")
    completed = float(log.get("result_completed_samples_per_sec") or 0)
    if not constraints.get("performance", True) and bound:
        min_latency = float(log.get("result_min_latency_ns") or 0)
        observed = f"{pct_name} latency {_ms(float(p_value))}" if p_value else f"{pct_name} latency"
        detail = f"{observed} > {_ms(bound)} bound at {_fmt_qps(target_qps)} queries/s"
        if min_latency > bound:
            fix = (f"even the fastest query took {_ms(min_latency)}: this device cannot meet the bound at any "
                   "load (a run with --target-latency-ms is not comparable with MLPerf results)")
        else:
            suggestion = 0.9 * min(target_qps, completed or target_qps)
            fix = f"lower --target-qps to about {_fmt_qps(suggestion)}"
        failures.append(Failure("latency", detail, fix))
    if not constraints.get("early_stopping", True):
        text = str(log.get("early_stopping_result") or "")
        more = re.search(r"at least (\d+) more queries", text)
        overlatency = int(log.get("result_overlatency_query_count") or 0)
        if constraints.get("performance", True) or not overlatency:
            need = f"{more.group(1)} more queries" if more else "more queries"
            failures.append(Failure(
                "early_stopping", f"early stopping needs {need} than the {log.get('result_query_count')} run "
                f"({overlatency} over the latency bound)",
                "run longer: raise --min-duration-ms or --min-query-count (Server needs about 460 queries "
                "even with none over the bound)"))
    if not constraints.get("min_duration", True):
        failures.append(Failure(
            "min_duration", f"the last query was scheduled before the {log.get('effective_min_duration_ms')} ms "
            "minimum", "raise --min-query-count or --target-qps so queries span the minimum duration"))


def _offline_failures(log: DetailLog, failures: list[Failure], constraints: dict[str, bool],
                      target_qps: float, value: float | None) -> None:
    if not constraints.get("min_duration", True):
        took = float(log.get("result_max_latency_ns") or 0)
        need_ms = float(log.get("effective_min_duration_ms") or 0)
        # --target-qps is in samples/s even where the headline is tokens/s (GPT-J).
        samples = log.get("result_samples_per_second")
        rate = float(samples) if isinstance(samples, (int, float)) else (value or 0.0)
        failures.append(Failure(
            "min_duration",
            f"the run took {_ms(took)} < the {need_ms / 1000:g} s minimum: the expected QPS "
            f"({_fmt_qps(target_qps)}) is below what the system does ({_fmt_qps(rate)} samples/s)",
            f"raise --target-qps to about {_fmt_qps(rate * 1.1)}"))
