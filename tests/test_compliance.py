"""Compliance verification against MLCommons' own v4.1 scripts, on hand-made logs: same verdicts, same bounds;
the round's audit.config settings; the compliance command's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.loadgen_settings import audit_config_text
from harness.results import compliance as verify
from harness.rules import load_rules
from models.specs import AccuracyResult
from tests.conftest import run_cli
from tests.mlperf_tools import run_script, tools_dir

RULES = load_rules("v4.1")


def _summary(path: Path, scenario: str, score: float, valid: bool = True, latency_ns: int = 15000000) -> Path:
    line = f"Samples per second: {score:g}" if scenario == "Offline" else \
        f"Completed samples per second    : {score:.2f}"
    path.write_text("\n".join([
        "================================================", "MLPerf Results Summary",
        "================================================", "SUT name : PyFastSUT", f"Scenario : {scenario}",
        "Mode     : PerformanceOnly", line, f"Result is : {'VALID' if valid else 'INVALID'}", "",
        "================================================", "Test Parameters Used",
        "================================================",
        f"target_latency (ns): {latency_ns if scenario == 'Server' else 0}", ""]) + "\n")
    return path


def _official_performance(test: str, ref: Path, got: Path) -> bool:
    script = tools_dir() / "compliance" / "nvidia" / test / "verify_performance.py"
    proc = run_script(script, "-r", str(ref), "-t", str(got))
    return "TEST PASS" in proc.stdout


# (test, scenario, reference score, test score, reference valid, test valid, passes): TEST01 within 10% either
# way, TEST04 at most 10% faster, TEST05 at most 5% slower; an INVALID run fails.
CASES = [("TEST01", "Offline", 1000, 1095, True, True, True), ("TEST01", "Offline", 1000, 1105, True, True, False),
         ("TEST01", "Server", 1000, 905, True, True, True), ("TEST01", "Server", 1000, 895, True, True, False),
         ("TEST04", "Offline", 1000, 1099, True, True, True), ("TEST04", "Offline", 1000, 1101, True, True, False),
         ("TEST04", "Server", 1000, 500, True, True, True),
         ("TEST05", "Offline", 1000, 951, True, True, True), ("TEST05", "Server", 1000, 949, True, True, False),
         ("TEST05", "Offline", 1000, 2000, True, True, True),
         ("TEST05", "Offline", 1000, 1000, False, True, False), ("TEST04", "Server", 1000, 1000, True, False, False)]


@pytest.mark.parametrize("test,scenario,ref_score,test_score,ref_valid,test_valid,passes", CASES)
def test_performance_verdicts_match_mlcommons(tmp_path: Path, test: str, scenario: str, ref_score: float,
                                              test_score: float, ref_valid: bool, test_valid: bool,
                                              passes: bool) -> None:
    ref = _summary(tmp_path / "ref.txt", scenario, ref_score, ref_valid)
    got = _summary(tmp_path / "test.txt", scenario, test_score, test_valid)
    verdict = verify.verify_performance(RULES.compliance_test(test), ref, got)
    assert verdict.passed is passes
    assert _official_performance(test, ref, got) is passes
    assert verdict.last_line == verify.PASS if verdict.passed else verdict.last_line.startswith(verify.FAIL + ": ")


def test_performance_names_why_it_fails(tmp_path: Path) -> None:
    ref = _summary(tmp_path / "ref.txt", "Server", 1000)
    faster = verify.verify_performance(RULES.compliance_test("TEST04"), ref,
                                       _summary(tmp_path / "t.txt", "Server", 1200))
    assert faster.last_line == "TEST FAIL: more than 10% faster than the performance run"
    assert "reference score = 1000" in faster.lines and "test score = 1200" in faster.lines
    bound = verify.verify_performance(RULES.compliance_test("TEST01"), ref,
                                      _summary(tmp_path / "b.txt", "Server", 1000, latency_ns=30000000))
    assert bound.last_line.startswith("TEST FAIL: Server target latency differs")
    invalid = verify.verify_performance(RULES.compliance_test("TEST05"),
                                        _summary(tmp_path / "i.txt", "Offline", 1000, valid=False), ref)
    assert invalid.last_line == "TEST FAIL: reference results are INVALID"


def _accuracy_log(path: Path, entries: list[tuple[int, bytes]]) -> Path:
    records = [{"seq_id": i, "qsl_idx": idx, "data": data.hex().upper()} for i, (idx, data) in enumerate(entries)]
    path.write_text(json.dumps(records))
    return path


def _classes(*values: int) -> bytes:
    return np.array(values, dtype=np.int32).tobytes()


def _official_accuracy(ref: Path, got: Path, dtype: str) -> bool:
    script = tools_dir() / "compliance" / "nvidia" / "TEST01" / "verify_accuracy.py"
    proc = run_script(script, "--dtype", dtype, "-r", str(ref), "-t", str(got))
    return "TEST PASS" in proc.stdout


def test_accuracy_verdicts_match_mlcommons(tmp_path: Path) -> None:
    ref = _accuracy_log(tmp_path / "acc.json", [(i, _classes(i % 7)) for i in range(8)])
    same = _accuracy_log(tmp_path / "same.json", [(3, _classes(3)), (5, _classes(5)), (3, _classes(3))])
    differs = _accuracy_log(tmp_path / "differs.json", [(3, _classes(3)), (5, _classes(6))])
    unknown = _accuracy_log(tmp_path / "unknown.json", [(40, _classes(1))])
    for log, expected in ((same, True), (differs, False), (unknown, False)):
        verdict = verify.verify_accuracy(ref, log)
        assert verdict.passed is expected and _official_accuracy(ref, log, "int32") is expected
    counts = verify.verify_accuracy(ref, differs).facts
    assert counts["num_perf_log_qsl_idx_match"] == 2 and counts["num_perf_log_data_mismatch"] == 1


def test_accuracy_compares_whole_responses(tmp_path: Path) -> None:
    """MLCommons' script compares the first element of each response only; the harness every byte."""
    ref = _accuracy_log(tmp_path / "acc.json", [(0, _classes(1, 2))])
    tail = _accuracy_log(tmp_path / "tail.json", [(0, _classes(1, 9))])
    assert _official_accuracy(ref, tail, "int32") is True
    assert verify.verify_accuracy(ref, tail).passed is False


def test_part_three_scores_the_logged_samples(tmp_path: Path) -> None:
    ref = _accuracy_log(tmp_path / "acc.json", [(i, _classes(i)) for i in range(10)])
    got = _accuracy_log(tmp_path / "t.json", [(2, _classes(2)), (4, _classes(0)), (6, _classes(6))])
    seen: list[list[int]] = []

    def score(entries: list) -> AccuracyResult:
        seen.append(sorted(e.qsl_idx for e in entries))
        good = sum(int(np.frombuffer(e.data, np.int32)[0]) == e.qsl_idx for e in entries)
        acc = 100.0 * good / len(entries)
        return AccuracyResult(metrics={"acc": acc}, report=f"accuracy={acc:.3f}%, good={good}, total={len(entries)}")

    third = verify.part_three(ref, got, score, ["acc"], "resnet50")
    assert seen == [[2, 4, 6], [2, 4, 6]]  # the baseline is the accuracy run's responses for the logged samples
    assert third.baseline_report.startswith("accuracy=100.000%") and third.verdict.passed is False
    assert verify.allowed_delta_percent("bert-99.9") == 0.1 and verify.allowed_delta_percent("bert-99") == 1.0


def _settings(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            pairs[key] = value
    return pairs


@pytest.mark.parametrize("test,model", [("TEST01", "resnet50"), ("TEST01", "retinanet"), ("TEST01", "bert"),
                                        ("TEST01", "3d-unet"), ("TEST04", "resnet50"), ("TEST05", "resnet50")])
def test_audit_config_is_the_rounds(test: str, model: str) -> None:
    folder = tools_dir() / "compliance" / "nvidia" / test
    official = _settings(((folder / model) if test == "TEST01" else folder).joinpath("audit.config").read_text())
    official = {k: v for k, v in official.items() if k.split(".")[0] == "*"}  # model-specific lines are others'
    ours = _settings(audit_config_text(RULES, RULES.compliance_test(test), model))
    expanded = {}
    for key, value in official.items():  # the official file may spell a setting per scenario
        _, scenario, name = key.split(".")
        expanded[name] = value
        assert scenario in ("*", "Offline", "Server", "SingleStream", "MultiStream")
    assert {k.split(".")[2]: v for k, v in ours.items()} == expanded


def test_round_requires_the_tests_of_v41() -> None:
    required = {m: [t.name for t in RULES.required_tests(m)] for m in RULES.models}
    assert required == {"resnet50": ["TEST01", "TEST04", "TEST05"], "retinanet": ["TEST01", "TEST05"],
                        "bert": ["TEST01", "TEST05"], "3d-unet": ["TEST01", "TEST05"], "gptj": []}
    official = _settings((tools_dir() / "mlperf.conf").read_text())
    seeds = RULES.compliance_test("TEST05").seeds or {}
    assert {f"*.*.test05_{k}": str(v) for k, v in seeds.items()} == {
        k: v for k, v in official.items() if k.startswith("*.*.test05_")}


def test_compliance_needs_a_performance_run(tmp_path: Path) -> None:
    proc = run_cli(["compliance", "--model", "resnet50", "--scenario", "offline", "--results-dir",
                    str(tmp_path / "results")], cwd=tmp_path)
    assert proc.returncode == 2
    assert "no complete performance run of resnet50 Offline" in proc.stderr and "run it first" in proc.stderr
    proc = run_cli(["compliance", "--model", "bert-99", "--scenario", "offline", "--test", "TEST04",
                    "--results-dir", str(tmp_path / "results")], cwd=tmp_path)
    assert proc.returncode == 2 and "TEST04 is not a compliance test of bert-99" in proc.stderr
    # Offline at 10 qps expected for 2 s: the null backend is done at once, so the run is INVALID.
    run_cli(["run", "--model", "resnet50", "--scenario", "offline", "--backend", "null", "--demo", "--demo-samples",
             "32", "--min-duration-ms", "2000", "--min-query-count", "1", "--target-qps", "10", "--results-dir",
             str(tmp_path / "results")], cwd=tmp_path, check=True)
    proc = run_cli(["compliance", "--model", "resnet50", "--scenario", "offline", "--results-dir",
                    str(tmp_path / "results")], cwd=tmp_path)
    assert proc.returncode == 2 and "is INVALID, and every compliance test fails" in proc.stderr
    assert "--even-if-invalid" in proc.stderr
    assert not list((tmp_path / "results").glob("*/*/*/runs/*-TEST0*"))
    (tmp_path / "audit.config").write_text("*.*.mode = 2\n")
    proc = run_cli(["compliance", "--model", "resnet50", "--scenario", "offline"], cwd=tmp_path)
    assert proc.returncode == 2 and "audit.config exists" in proc.stderr
