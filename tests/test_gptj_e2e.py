"""GPT-J end to end on demo data through the real LoadGen: the tiny random GPT-J on the CPU (torch backend,
fast and reference paths) and the null backend, Offline and Server, performance and accuracy.

A Server run that LoadGen calls VALID needs ~460 queries (early stopping at p99), minutes of beam search on
two cores: the VALID Server run uses the null backend, and the torch Server run is the accuracy run (every
sample through the Server SUT, scored).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import run_cli, run_dir_of, run_records

pytestmark = pytest.mark.slow

DEMO = ["--model", "gptj", "--demo", "--demo-samples", "12"]
CASES: dict[str, list[str]] = {
    "offline-performance-torch": ["--scenario", "offline", "--backend", "torch", "--min-duration-ms", "0",
                                  "--min-query-count", "12", "--target-qps", "4"],
    "offline-accuracy-torch": ["--scenario", "offline", "--mode", "accuracy", "--backend", "torch"],
    # transformers' generate is the slow one: half the demo set (the same first six articles).
    "offline-accuracy-reference": ["--scenario", "offline", "--mode", "accuracy", "--backend", "torch",
                                   "--set", "generator=reference", "--demo-samples", "6"],
    "server-accuracy-torch": ["--scenario", "server", "--mode", "accuracy", "--backend", "torch",
                              "--target-qps", "20"],
    "offline-performance-null": ["--scenario", "offline", "--backend", "null", "--min-duration-ms", "0",
                                 "--min-query-count", "120"],
    "server-performance-null": ["--scenario", "server", "--backend", "null", "--min-duration-ms", "0",
                                "--min-query-count", "480", "--target-qps", "2000"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("gptj-e2e")
    out: dict[str, dict[str, Any]] = {}
    for name, args in CASES.items():
        results_dir = root / name
        started = time.monotonic()
        proc = run_cli(["run", *DEMO, *args, "--results-dir", str(results_dir)], cwd=root, timeout=300)
        print(f"{name}: {time.monotonic() - started:.1f} s")  # shown with pytest -s
        (record,) = run_records(results_dir) or [None]
        out[name] = {"proc": proc, "record": record, "dir": run_dir_of(results_dir, record) if record else None}
    return out


def _accuracy_log(case: dict[str, Any]) -> dict[int, bytes]:
    entries = json.loads((case["dir"] / "mlperf_log_accuracy.json").read_text())
    return {e["qsl_idx"]: bytes.fromhex(e["data"]) for e in entries}


@pytest.mark.parametrize("name", list(CASES))
def test_run_completes_and_is_stamped(results: dict[str, dict[str, Any]], name: str) -> None:
    case = results[name]
    assert case["proc"].returncode == 0, case["proc"].stdout + case["proc"].stderr
    record = case["record"]
    assert record["status"] == "complete" and record["model"] == "gptj" and record["mlperf_model"] == "gptj-99"
    assert record["data"]["demo"] is True and record["data"]["total_count"] == (6 if "reference" in name else 12)
    assert record["comparable"]["submission_grade"] is False
    info = record["model_info"]
    assert info["accuracy_log_dtype"] == "int64" and info["generation"]["num_beams"] == 4
    if "torch" in name or "reference" in name:
        assert info["network_config"]["name"] == "tiny" and record["weights"]["random"] is True
        assert info["generator"] == ("reference" if "reference" in name else "fast")


@pytest.mark.parametrize("name", [n for n in CASES if "performance" in n])
def test_performance_runs_are_valid_and_report_tokens(results: dict[str, dict[str, Any]], name: str) -> None:
    case = results[name]
    assert case["record"]["result"]["valid"] is True, case["record"]["result"]
    summary = (case["dir"] / "mlperf_log_summary.txt").read_text()
    assert "Result is : VALID" in summary
    assert "per second (inferred)" in summary  # tokens/s = samples/s x 69


@pytest.mark.parametrize("name", [n for n in CASES if "accuracy" in n])
def test_accuracy_runs_score_every_sample(results: dict[str, dict[str, Any]], name: str) -> None:
    case = results[name]
    accuracy = case["record"]["accuracy"]
    count = 6 if "reference" in name else 12
    assert accuracy["samples"] == count and set(accuracy["metrics"]) >= {"ROUGE1", "ROUGE2", "ROUGEL", "GEN_LEN"}
    text = (case["dir"] / "accuracy.txt").read_text().splitlines()
    assert text[0].startswith("{'rouge1': ") and text[0].endswith(f", 'gen_num': {count}}}")
    digest = hashlib.sha256((case["dir"] / "mlperf_log_accuracy.json").read_bytes()).hexdigest()
    assert text[-1] == f"hash={digest}"
    log = _accuracy_log(case)
    assert sorted(log) == list(range(count))
    eos = case["record"]["model_info"]["generation"]["eos_token_id"]
    for data in log.values():
        tokens = np.frombuffer(data, dtype=np.int64)
        assert 31 <= len(tokens) <= 128 and (tokens[-1] == eos or len(tokens) == 128)


def test_fast_and_reference_paths_log_the_same_tokens(results: dict[str, dict[str, Any]]) -> None:
    fast = _accuracy_log(results["offline-accuracy-torch"])
    reference = _accuracy_log(results["offline-accuracy-reference"])
    assert reference == {i: fast[i] for i in range(6)}
    assert fast == _accuracy_log(results["server-accuracy-torch"])  # Server's continuous batching: same answers


def test_missing_dataset_dir_names_the_fetch_script(tmp_path: Path) -> None:
    proc = run_cli(["run", "--model", "gptj", "--scenario", "offline", "--backend", "null", "--data-dir",
                    str(tmp_path / "none"), "--results-dir", str(tmp_path / "results")], tmp_path, timeout=120)
    assert proc.returncode != 0 and "scripts/fetch_cnndm.py" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
