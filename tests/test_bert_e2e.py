"""BERT end to end on demo data through the real LoadGen: Offline and Server, performance and accuracy,
bert-99 and bert-99.9, and bad input through the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import run_cli, run_dir_of, run_records
from tests.test_bert_features import write_squad

pytestmark = pytest.mark.slow

DEMO = ["--demo", "--demo-samples", "48"]
# Short runs that are still VALID. Server needs 459+ queries for LoadGen's early stopping at p99 with none
# over the bound; the reduced network serves 40-300 samples/s on two cores depending on their load, so the
# bound is loose enough (60 s) for the queue of a busy machine: the run then lasts ~480 / throughput seconds.
CASES: dict[str, list[str]] = {
    "offline-performance": ["--model", "bert", "--scenario", "offline", "--min-duration-ms", "0",
                            "--min-query-count", "96", "--target-qps", "50"],
    "offline-accuracy": ["--model", "bert-99.9", "--scenario", "offline", "--mode", "accuracy"],
    "server-performance": ["--model", "bert", "--scenario", "server", "--min-duration-ms", "0",
                           "--min-query-count", "480", "--target-qps", "40", "--target-latency-ms", "60000",
                           "--batch-size", "8"],
    "server-accuracy": ["--model", "bert-99", "--scenario", "server", "--mode", "accuracy", "--target-qps", "60"],
    "offline-accuracy-torch": ["--model", "bert", "--scenario", "offline", "--mode", "accuracy",
                               "--backend", "torch"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("bert-e2e")
    out: dict[str, dict[str, Any]] = {}
    for name, args in CASES.items():
        results_dir = root / name
        proc = run_cli(["run", *args, *DEMO, "--results-dir", str(results_dir)], cwd=root,
                       env={"MLPERF_BERT_NETWORK": "reduced"})
        (record,) = run_records(results_dir) or [None]
        out[name] = {"proc": proc, "record": record, "results_dir": results_dir}
    return out


def _run_dir(case: dict[str, Any]) -> Path:
    return run_dir_of(case["results_dir"], case["record"])


@pytest.mark.parametrize("name", list(CASES))
def test_run_completes_and_is_stamped(results: dict[str, dict[str, Any]], name: str) -> None:
    case = results[name]
    proc = case["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DEMO DATA" in proc.stdout and "reduced BERT (2 layers, hidden 128" in proc.stdout
    record = case["record"]
    assert record["status"] == "complete" and record["model"] == "bert"
    assert record["data"]["demo"] is True and record["data"]["total_count"] == 48
    assert record["weights"]["random"] is True and "reduced BERT" in record["weights"]["description"]
    info = record["model_info"]
    assert info["reduced_network"] is True and info["accuracy_log_dtype"] == "float32"
    assert info["network_config"]["num_hidden_layers"] == 2
    assert record["comparable"]["submission_grade"] is False
    assert not (_run_dir(case) / "INCOMPLETE").exists()


@pytest.mark.parametrize("name", ["offline-performance", "server-performance"])
def test_performance_runs_are_valid(results: dict[str, dict[str, Any]], name: str) -> None:
    record = results[name]["record"]
    assert record["mlperf_model"] == "bert-99"
    assert record["result"]["valid"] is True, record["result"]
    assert record["result"]["value"] > 0
    assert record["harness_stats"]["samples"] >= 96


def test_server_run_used_the_given_latency_bound(results: dict[str, dict[str, Any]]) -> None:
    record = results["server-performance"]["record"]
    assert "bert.Server.target_latency = 60000" in record["loadgen"]["user_conf"]
    assert record["latency_ns"]["p99"] <= 60000e6 and record["knobs"]["batch_size"] == 8


def _accuracy_log(case: dict[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((_run_dir(case) / "mlperf_log_accuracy.json").read_text())
    return records


@pytest.mark.parametrize("name,variant,target", [("offline-accuracy", "bert-99.9", 90.874 * 0.999),
                                                 ("server-accuracy", "bert-99", 90.874 * 0.99)])
def test_accuracy_runs_write_the_reference_accuracy_txt(results: dict[str, dict[str, Any]], name: str,
                                                        variant: str, target: float) -> None:
    case = results[name]
    record = case["record"]
    assert record["mlperf_model"] == variant and "/" + variant + "/" in str(_run_dir(case))
    accuracy = record["accuracy"]
    assert accuracy["targets"] == {"F1": target} and accuracy["passed"] is False  # random weights
    assert accuracy["samples"] == 48
    lines = (_run_dir(case) / "accuracy.txt").read_text().splitlines()
    scores = json.loads(lines[0])
    assert list(scores) == ["exact_match", "f1"] and 0 <= scores["f1"] <= 100
    assert scores["f1"] == pytest.approx(accuracy["metrics"]["F1"])
    log_hash = hashlib.sha256((_run_dir(case) / "mlperf_log_accuracy.json").read_bytes()).hexdigest()
    assert lines[-1] == f"hash={log_hash}"


def test_accuracy_log_holds_384_logit_pairs_padded_past_the_crop(results: dict[str, dict[str, Any]]) -> None:
    """Every record is [384, 2] float32; cropping never cuts into a sample's own tokens."""
    from models.bert.dataset import SquadDataset

    case = results["offline-accuracy"]
    dataset = SquadDataset(Path(case["record"]["data"]["location"]), case["results_dir"] / "cache")
    lengths = dataset.sample_lengths()
    padded = 0
    for entry in _accuracy_log(case):
        pairs = np.frombuffer(bytes.fromhex(entry["data"]), dtype=np.float32).reshape(384, 2)
        pad = np.flatnonzero((pairs == -10000.0).all(axis=1))
        if len(pad):
            padded += 1
            assert pad[0] >= lengths[entry["qsl_idx"]] and (pad == np.arange(pad[0], 384)).all()
    assert padded > 0  # length-sorted batches are shorter than 384


def test_torch_and_onnxruntime_score_the_same(results: dict[str, dict[str, Any]]) -> None:
    """Same seed, same reduced network: the two backends' logits agree, so do the answers."""
    ort = results["offline-accuracy"]["record"]["accuracy"]["metrics"]
    torch = results["offline-accuracy-torch"]["record"]["accuracy"]["metrics"]
    assert results["offline-accuracy-torch"]["record"]["backend"]["name"] == "torch"
    assert torch["F1"] == pytest.approx(ort["F1"], abs=1e-6)
    assert torch["exact_match"] == pytest.approx(ort["exact_match"], abs=1e-6)


@pytest.mark.parametrize("breakage,message", [
    ("json", "does not parse as JSON"),
    ("vocab", "no vocab.txt"),
])
def test_bad_dataset_fails_before_any_run_folder(tmp_path: Path, breakage: str, message: str) -> None:
    folder = write_squad(tmp_path / "squad", [("The Denver Broncos won.", [("Who won?", "Denver Broncos")])])
    if breakage == "json":
        (folder / "dev-v1.1.json").write_text('{"data": [{"paragraphs": ')
    else:
        (folder / "vocab.txt").unlink()
    results_dir = tmp_path / "results"
    proc = run_cli(["run", "--model", "bert", "--scenario", "offline", "--backend", "null", "--data-dir", str(folder),
                    "--results-dir", str(results_dir)], cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "fix:" in proc.stderr and "fetch_squad.py" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not results_dir.exists()
