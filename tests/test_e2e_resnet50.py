"""End to end on demo data through the real LoadGen: every backend x scenario x mode, and every output file."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.results.logparse import parse_detail_log
from tests.conftest import run_cli, run_dir_of, run_records

pytestmark = pytest.mark.slow

DEMO = ["--demo", "--demo-samples", "32"]
V41_SEEDS = {"effective_qsl_rng_seed": 3066443479025735752,
             "effective_sample_index_rng_seed": 10688027786191513374,
             "effective_schedule_rng_seed": 14962580496156340209}
# Short runs that are still VALID: Offline issues exactly min_query_count samples when min_duration is 0.
# Server needs 459+ queries for LoadGen's early stopping at p99 with none over the bound. ResNet50 on two
# CPU cores does ~15 samples/s, so the real backends get queries faster than they can serve them and a
# bound (300 s) loose enough for the queue even on a busy machine: the run then lasts ~470 / throughput
# seconds, and every batch is a full one through the dynamic batcher.
_SERVER_CPU = ["--min-duration-ms", "0", "--min-query-count", "470", "--target-qps", "40",
               "--target-latency-ms", "300000", "--batch-size", "8"]
PERF_ARGS = {
    ("null", "offline"): ["--min-duration-ms", "0", "--min-query-count", "4096", "--target-qps", "1000"],
    ("null", "server"): ["--min-duration-ms", "0", "--min-query-count", "600", "--target-qps", "3000"],
    ("onnxruntime", "offline"): ["--min-duration-ms", "0", "--min-query-count", "48", "--target-qps", "10"],
    ("onnxruntime", "server"): _SERVER_CPU,
    ("torch", "offline"): ["--min-duration-ms", "0", "--min-query-count", "48", "--target-qps", "10"],
    ("torch", "server"): _SERVER_CPU,
}
CASES = [(b, s, m) for b in ("null", "onnxruntime", "torch") for s in ("offline", "server")
         for m in ("performance", "accuracy")]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Run every case once; tests below inspect the outputs."""
    root = tmp_path_factory.mktemp("e2e")
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for backend, scenario, mode in CASES:
        results_dir = root / f"{backend}-{scenario}-{mode}"
        args = ["run", "--model", "resnet50", "--scenario", scenario, "--mode", mode, "--backend", backend,
                "--results-dir", str(results_dir), *DEMO]
        if mode == "performance":
            args += PERF_ARGS[(backend, scenario)]
        else:
            args += ["--target-qps", "50"]
        proc = run_cli(args, cwd=root)
        (record,) = run_records(results_dir) or [None]
        out[(backend, scenario, mode)] = {"proc": proc, "record": record, "results_dir": results_dir}
    return out


def _run_dir(case: dict[str, Any]) -> Path:
    return run_dir_of(case["results_dir"], case["record"])


@pytest.mark.parametrize("backend,scenario,mode", CASES)
def test_run_completes_and_says_so(results: dict, backend: str, scenario: str, mode: str) -> None:
    case = results[(backend, scenario, mode)]
    proc = case["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DEMO DATA" in proc.stdout
    record = case["record"]
    assert record["status"] == "complete" and record["error"] is None
    assert record["backend"]["name"] == backend and record["mode"] == mode
    assert record["scenario"] == scenario.capitalize() and record["mlperf_model"] == "resnet50"
    assert record["data"]["demo"] is True and record["data"]["total_count"] == 32
    assert record["weights"]["random"] is True
    assert record["comparable"]["submission_grade"] is False and "demo data" in record["comparable"]["reasons"]
    assert record["versions"]["mlcommons-loadgen"] == "6.0.17"
    assert record["rules"]["round"] == "v4.1"
    run_dir = _run_dir(case)
    assert not (run_dir / "INCOMPLETE").exists()
    assert (run_dir / "user.conf").read_text() == record["loadgen"]["user_conf"]


@pytest.mark.parametrize("backend,scenario", [(b, s) for b in ("null", "onnxruntime", "torch")
                                              for s in ("offline", "server")])
def test_performance_run_is_valid_with_complete_logs(results: dict, backend: str, scenario: str) -> None:
    case = results[(backend, scenario, "performance")]
    record, run_dir = case["record"], _run_dir(case)
    assert record["result"]["valid"] is True, record["result"]
    assert f"{record['result']['value']:,.2f} {record['result']['unit']}  VALID" in case["proc"].stdout
    assert record["result"]["unit"] == ("samples/s" if scenario == "offline" else "queries/s")
    summary = (run_dir / "mlperf_log_summary.txt").read_text()
    assert "Result is : VALID" in summary and f"Scenario : {scenario.capitalize()}" in summary
    log = parse_detail_log(run_dir / "mlperf_log_detail.txt")
    assert not log.errors
    for key, seed in V41_SEEDS.items():
        assert log.get(key) == seed
    assert log.get("effective_test_mode") == "PerformanceOnly"
    assert log.get(record["result"]["metric"]) == pytest.approx(record["result"]["value"])
    assert record["latency_ns"]["p99"] == log.get("result_99.00_percentile_latency_ns")
    assert record["harness_stats"]["samples"] == log.get("result_query_count") * (
        log.get("effective_samples_per_query") if scenario == "offline" else 1)
    # the MLPerf-layout copy is the same run's LoadGen logs, nothing else (the run folder keeps the rest)
    copy = case["results_dir"] / "cpu" / "resnet50" / scenario.capitalize() / "performance" / "run_1"
    assert sorted(p.name for p in copy.iterdir()) == ["mlperf_log_detail.txt", "mlperf_log_summary.txt"]
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        assert (copy / name).read_bytes() == (run_dir / name).read_bytes()


def _labels(record: dict[str, Any]) -> np.ndarray:
    val_map = Path(record["data"]["location"]) / "val_map.txt"
    return np.array([int(line.split()[1]) for line in val_map.read_text().splitlines()])


@pytest.mark.parametrize("backend,scenario", [(b, s) for b in ("null", "onnxruntime", "torch")
                                              for s in ("offline", "server")])
def test_accuracy_run_writes_scored_log_and_hash(results: dict, backend: str, scenario: str) -> None:
    case = results[(backend, scenario, "accuracy")]
    record, run_dir = case["record"], _run_dir(case)
    entries = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(32))  # every sample exactly once
    found = {e["qsl_idx"]: int(np.frombuffer(bytes.fromhex(e["data"]), np.int32)[0]) for e in entries}
    labels = _labels(record)
    good = sum(found[i] == labels[i] for i in range(32))
    lines = (run_dir / "accuracy.txt").read_text().splitlines()
    assert lines[0] == f"accuracy={100 * good / 32:.3f}%, good={good}, total=32"
    digest = hashlib.sha256((run_dir / "mlperf_log_accuracy.json").read_bytes()).hexdigest()
    assert lines[1] == f"hash={digest}" and len(lines) == 2
    acc = record["accuracy"]
    assert acc["metrics"]["acc"] == pytest.approx(100 * good / 32)
    assert acc["targets"] == {"acc": 76.46 * 0.99} and acc["passed"] is False and acc["hash"] == digest
    if backend == "null":
        assert set(found.values()) == {0}  # the null backend's fixed output
    assert re.search(r"target \(resnet50\): acc >= 75.6954: FAIL", case["proc"].stdout)
    copy = case["results_dir"] / "cpu" / "resnet50" / scenario.capitalize() / "accuracy"
    assert (copy / "accuracy.txt").read_bytes() == (run_dir / "accuracy.txt").read_bytes()
    assert (copy / "mlperf_log_accuracy.json").is_file()


def test_torch_and_onnxruntime_log_the_same_classes(results: dict) -> None:
    def classes(case: dict[str, Any]) -> dict[int, str]:
        entries = json.loads((_run_dir(case) / "mlperf_log_accuracy.json").read_text())
        return {e["qsl_idx"]: e["data"] for e in entries}

    assert classes(results[("torch", "offline", "accuracy")]) == classes(results[("onnxruntime", "offline",
                                                                                    "accuracy")])
