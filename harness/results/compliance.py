"""Compliance verification: the checks MLCommons' run_verification scripts make, on this harness's runs.

- performance (TEST01, TEST04, TEST05): both runs VALID, same scenario (and Server latency bound), and the
  test's result (Offline samples/s, Server completed samples/s, read from the summaries as MLCommons'
  scripts read them) within the test's bounds of the performance run's;
- accuracy (TEST01): every response the test run logged equals the accuracy run's response for that
  sample (all bytes: stricter than MLCommons' script, which compares the first element only);
- TEST01 Part III, when the responses differ: the accuracy run's responses for the logged samples (the
  "baseline") and the test run's are scored with the model's metric; they must agree within 1% (0.1% for
  the 99.9% benchmarks).

Each verdict is text ending in a "TEST PASS" or "TEST FAIL: why" line: verify_performance.txt and
verify_accuracy.txt, which the submission checker reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results import store
from harness.results.accuracy import read_accuracy_log
from harness.results.record import RunRecord
from harness.rules import ComplianceTest
from models.base import AccuracyEntry

PASS = "TEST PASS"
FAIL = "TEST FAIL"
# What a verified compliance run folder holds besides the run's own files.
VERIFICATION = "verification.json"
VERIFY_PERFORMANCE = "verify_performance.txt"
VERIFY_ACCURACY = "verify_accuracy.txt"
BASELINE_ACCURACY = "baseline_accuracy.txt"
COMPLIANCE_ACCURACY = "compliance_accuracy.txt"
_SCORE_LINES = {"Offline": "Samples per second", "Server": "Completed samples per second"}


@dataclass
class Verdict:
    passed: bool
    lines: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def last_line(self) -> str:
        return self.lines[-1] if self.lines else ""


@dataclass
class SummaryFacts:
    """What the verification reads from mlperf_log_summary.txt."""

    scenario: str = ""
    valid: bool = False
    score: float | None = None
    target_latency_ns: str | None = None


def read_summary(path: Path) -> SummaryFacts:
    facts = SummaryFacts()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "Scenario":
            facts.scenario = value
        elif key == "Result is":
            facts.valid = value == "VALID"
        elif key == "target_latency (ns)":
            facts.target_latency_ns = value
        elif facts.scenario in _SCORE_LINES and key == _SCORE_LINES[facts.scenario]:
            try:
                facts.score = float(value)
            except ValueError:
                facts.score = None
    return facts


def verify_performance(test: ComplianceTest, reference_summary: Path, test_summary: Path) -> Verdict:
    """The test run's result against the performance run's, within the test's bounds."""
    lines = [f"Verifying performance ({test.name}).", f"reference: {reference_summary}", f"test: {test_summary}"]
    ref, got = read_summary(reference_summary), read_summary(test_summary)
    facts: dict[str, Any] = {"reference_score": ref.score, "test_score": got.score, "scenario": ref.scenario}

    def fail(why: str) -> Verdict:
        return Verdict(False, [*lines, f"{FAIL}: {why}"], {**facts, "why": why})

    if ref.scenario not in _SCORE_LINES:
        return fail(f"reference scenario '{ref.scenario}' is not Offline or Server")
    if not ref.valid:
        return fail("reference results are INVALID")
    if not got.valid:
        return fail("test results are INVALID")
    if got.scenario != ref.scenario:
        return fail(f"test and reference scenarios differ ({got.scenario} vs {ref.scenario})")
    if ref.scenario == "Server" and got.target_latency_ns != ref.target_latency_ns:
        return fail(f"Server target latency differs ({got.target_latency_ns} vs {ref.target_latency_ns} ns)")
    if ref.score is None or got.score is None:
        return fail("no result in " + ("the reference summary" if ref.score is None else "the test summary"))
    lines += [f"reference score = {ref.score:g}", f"test score = {got.score:g}"]
    ratio = got.score / ref.score if ref.score else float("inf")
    facts["ratio"] = ratio
    lines.append(f"test / reference = {ratio:.4f}")
    if test.max_faster is not None and not got.score < ref.score * (1 + test.max_faster):
        return fail(f"more than {test.max_faster:.0%} faster than the performance run")
    if test.max_slower is not None and not got.score > ref.score * (1 - test.max_slower):
        return fail(f"more than {test.max_slower:.0%} slower than the performance run")
    return Verdict(True, [*lines, PASS], facts)


def _by_index(entries: Sequence[AccuracyEntry]) -> tuple[dict[int, bytes], int, int]:
    """First response per sample, and how many entries repeat a sample (and differ)."""
    first: dict[int, bytes] = {}
    duplicates = differing = 0
    for entry in entries:
        if entry.qsl_idx in first:
            duplicates += 1
            differing += first[entry.qsl_idx] != entry.data
        else:
            first[entry.qsl_idx] = entry.data
    return first, duplicates, differing


def verify_accuracy(reference_log: Path, test_log: Path) -> Verdict:
    """TEST01: the responses the test run logged against the accuracy run's."""
    reference, test = read_accuracy_log(reference_log), read_accuracy_log(test_log)
    ref_by_index, ref_duplicates, ref_differing = _by_index(reference)
    matched = mismatched = missing = 0
    for entry in test:
        expected = ref_by_index.get(entry.qsl_idx)
        if expected is None:
            missing += 1
        elif expected == entry.data:
            matched += 1
        else:
            mismatched += 1
    counts = {"num_acc_log_entries": len(reference), "num_acc_log_duplicate_keys": ref_duplicates,
              "num_acc_log_data_mismatch": ref_differing, "num_perf_log_entries": len(test),
              "num_perf_log_qsl_idx_match": matched + mismatched, "num_perf_log_data_mismatch": mismatched,
              "num_missing_qsl_idxs": missing}
    lines = ["Verifying accuracy (TEST01): the responses logged in performance mode against the accuracy run's.",
             f"reference: {reference_log}", f"test: {test_log}"]
    lines += [f"{key} = {value}" for key, value in counts.items()]
    if matched + mismatched == 0:
        return Verdict(False, [*lines, f"{FAIL}: no logged sample is in the accuracy run's log"], counts)
    if mismatched:
        return Verdict(False, [*lines, f"{FAIL}: {mismatched} of {matched + mismatched} logged responses differ "
                                       "from the accuracy run's"], counts)
    return Verdict(True, [*lines, PASS], counts)


@dataclass
class PartThree:
    """TEST01 Part III: the baseline and the test run's responses, each scored with the model's metric."""

    baseline_report: str
    compliance_report: str
    verdict: Verdict


def allowed_delta_percent(mlperf_model: str) -> float:
    """How far the two scores may differ: 1% for the 99% benchmarks, 0.1% for the 99.9% ones."""
    return 0.1 if "99.9" in mlperf_model else 1.0


def part_three(reference_log: Path, test_log: Path, score: Callable[[Sequence[AccuracyEntry]], Any],
               metrics: Sequence[str], mlperf_model: str) -> PartThree:
    """Score the accuracy run's responses for the samples the test logged, and the test's own responses.
    ``score(entries)`` is the model's metric (an AccuracyResult with .report and .metrics)."""
    test = read_accuracy_log(test_log)
    logged = {entry.qsl_idx for entry in test}
    baseline = [entry for entry in read_accuracy_log(reference_log) if entry.qsl_idx in logged]
    base, comp = score(baseline), score(test)
    delta = allowed_delta_percent(mlperf_model)
    lines = [f"TEST01 Part III: {len(logged)} logged samples scored from the accuracy run (baseline) and from "
             "this run (compliance).", f"baseline: {base.report}", f"compliance: {comp.report}"]
    passed = True
    for metric in metrics:
        b, c = base.metrics.get(metric), comp.metrics.get(metric)
        if not b or not c:
            lines.append(f"{metric}: no score to compare (baseline {b}, compliance {c})")
            passed = False
            continue
        off = abs(1 - b / c) * 100
        ok = off <= delta
        passed &= ok
        lines.append(f"{metric}: baseline {b:g}, compliance {c:g}, delta {off:.4f}% "
                     f"({'within' if ok else 'beyond'} {delta:g}%)")
    lines.append(PASS if passed else f"{FAIL}: the scores differ by more than {delta:g}%")
    return PartThree(base.report, comp.report, Verdict(passed, lines))


def read_verification(run_dir: Path) -> dict[str, Any] | None:
    """verification.json of a compliance run folder (None when it was never verified)."""
    try:
        data = json.loads((run_dir / VERIFICATION).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def verified_runs(cell_dir: Path, test: str,
                  runs: list[tuple[Path, RunRecord]] | None = None) -> list[tuple[RunRecord, dict[str, Any]]]:
    """Complete runs of compliance test ``test`` in a cell folder, with their verification, newest first
    (``runs``: the cell's store.complete_runs, when the caller has read them already)."""
    found = []
    for run_dir, record in (store.complete_runs(cell_dir) if runs is None else runs):
        verification = read_verification(run_dir) if record.compliance == test else None
        if verification is not None:
            found.append((record, verification))
    return found
