"""Two models defined outside models/ (tests/toy_models), found by the same discovery as the real ones,
run through the real LoadGen: a sliding window over ragged signals, and a beam-search generator whose
samples complete one at a time. Broken programs and a runner-kind mismatch fail the run clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import ROOT, run_cli, run_dir_of, run_records

TOYS = ROOT / "tests" / "toy_models"
ENV = {"HARNESS_MODELS_PATH": str(TOYS)}
# Short runs that LoadGen still calls VALID: Server needs ~460 queries for early stopping at p99.
# Offline with no minimum duration issues exactly min_query_count samples, VALID at any speed.
OFFLINE = ["--scenario", "offline", "--min-duration-ms", "0", "--min-query-count", "64", "--target-qps", "10"]
SERVER = ["--scenario", "server", "--min-duration-ms", "0", "--min-query-count", "500", "--target-qps", "250"]
# The torch counter serves ~270 samples/s on two idle cores with 16 slots: a fifth of that leaves room.
SERVER_SLOW = [*SERVER[:-1], "60"]


def _run(workdir: Path, model: str, *args: str) -> tuple[Any, dict[str, Any] | None]:
    results = workdir / "results"
    proc = run_cli(["run", "--model", model, *args, "--results-dir", str(results)], workdir, env=ENV, timeout=300)
    records = run_records(results)
    return proc, records[-1] if records else None


def _ok(proc: Any, record: dict[str, Any] | None) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert record is not None and record["status"] == "complete"
    return record


@pytest.fixture(autouse=True)
def _toys_importable(monkeypatch: pytest.MonkeyPatch) -> Any:
    """In-process tests see the toys too (the registry is rebuilt around each test)."""
    import models

    monkeypatch.setenv("HARNESS_MODELS_PATH", str(TOYS))
    models._registry.cache_clear()
    yield
    models._registry.cache_clear()


def test_toys_are_discovered_like_the_real_models() -> None:
    from models import get_model_class, model_names

    assert {"toy-window", "toy-counter", "resnet50", "bert"} <= set(model_names())
    window = get_model_class("toy_window")
    assert window.program.__name__ == "SlidingWindow" and window.ragged
    assert window.network is not None and window.network.inputs[0].shape == (16,)
    assert get_model_class("toy-counter").program.needs == "generator"


# -- the sliding window -------------------------------------------------------------
class CountingRunner:
    """The toy network through NetworkRunner's default infer_tensors, counting calls."""

    def __init__(self) -> None:
        from toy_window.network import ToyNet

        from harness.backends.torch_backend import TorchRunner

        self.inner = TorchRunner(ToyNet().eval(), "fp32", False, ["window"], ["score"], ["float32"])
        self.calls: list[int] = []
        self.torch_device = "cpu"

    def infer_tensors(self, inputs: dict[str, Any], count: int) -> dict[str, Any]:
        self.calls.append(count)
        return self.inner.infer_tensors(inputs, count)


def test_sliding_window_stitches_to_the_whole_signal_answer(tmp_path: Path) -> None:
    import torch
    from toy_window import ToyWindow, ToyWindowOptions
    from toy_window.dataset import SignalDataset
    from toy_window.demo import write_signals
    from toy_window.network import ToyNet
    from toy_window.program import SlidingWindow, window_starts

    from harness.qsl import SampleStore
    from models.program import ProgramSetup

    write_signals(tmp_path, 6)
    dataset = SignalDataset(tmp_path)
    store = SampleStore(dataset, ToyWindow.sample_inputs, ragged=True)
    store.load(list(range(6)))
    options = ToyWindowOptions(windows_per_call=2)
    model = ToyWindow(options=options)
    runner = CountingRunner()
    program = SlidingWindow(model, runner, store, ProgramSetup(1, True, options))
    answers: dict[int, np.ndarray] = {}

    def done(ids: list[int], responses: Any) -> None:
        for k, sample_id in enumerate(ids):
            answers[sample_id] = np.frombuffer(responses.sample_bytes(k), np.uint8)

    program.run(list(range(100, 106)), np.arange(6), done)
    net = ToyNet().eval()
    for i in range(6):
        signal = dataset.signals[i]
        with torch.inference_mode():
            whole = (net(torch.from_numpy(signal)) > 0.5).numpy().astype(np.uint8)
        np.testing.assert_array_equal(answers[100 + i], whole)  # stitched windows == one pass over the signal
    windows = sum(len(window_starts(len(s), 8)) for s in dataset.signals)
    assert sum(runner.calls) == windows and max(runner.calls) == 2
    assert len(runner.calls) > 6  # several network calls per sample


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "null"])
def test_window_accuracy_from_its_own_metric(workdir: Path, backend: str) -> None:
    proc, record = _run(workdir, "toy-window", "--scenario", "offline", "--mode", "accuracy", "--backend", backend)
    record = _ok(proc, record)
    accuracy = record["accuracy"]
    assert accuracy["samples"] == 24 and set(accuracy["metrics"]) == {"accuracy"}
    if backend == "null":  # zeros everywhere: only the positions below 0.5 are right
        assert 20 < accuracy["metrics"]["accuracy"] < 80 and not accuracy["passed"]
    else:
        assert accuracy["metrics"]["accuracy"] == 100.0 and accuracy["passed"]
    logged = json.loads((run_dir_of(workdir / "results", record) / "mlperf_log_accuracy.json").read_text())
    assert len({len(entry["data"]) for entry in logged}) > 1  # one label per position: ragged responses


@pytest.mark.slow
@pytest.mark.parametrize("backend,scenario", [("torch", OFFLINE), ("onnxruntime", SERVER)])
def test_window_performance_runs_are_valid(workdir: Path, backend: str, scenario: list[str]) -> None:
    proc, record = _run(workdir, "toy-window", "--backend", backend, *scenario)
    record = _ok(proc, record)
    assert record["result"]["valid"] is True, record["result"]
    assert record["program"] == {"name": "SlidingWindow", "runner": "network", "batching": "harness"}
    assert record["options"]["model"]["windows_per_call"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("how,needle", [("twice", "completed sample id"), ("never", "never completed")])
def test_a_broken_program_fails_the_run_and_never_hangs_loadgen(workdir: Path, how: str, needle: str) -> None:
    proc, record = _run(workdir, "toy-window", "--scenario", "offline", "--backend", "onnxruntime", "--set",
                        f"misbehave={how}", "--min-duration-ms", "0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert needle in proc.stdout and "model toy-window" in proc.stdout and "program SlidingWindow" in proc.stdout
    assert record is not None and record["status"] == "failed" and needle in record["error"]
    run_dir = run_dir_of(workdir / "results", record)
    assert (run_dir / "INCOMPLETE").exists() and not (workdir / "results" / "cpu" / "toy-window" / "Offline" /
                                                     "performance").exists()


# -- the generator -------------------------------------------------------------------
def test_slots_finish_out_of_order_and_report_one_at_a_time() -> None:
    from toy_counter import ToyCounter
    from toy_counter.dataset import expected_tokens
    from toy_counter.network import BeamCounter

    from harness.backends.generation import SlotGenerator

    assert ToyCounter.generation is not None
    generator = SlotGenerator(BeamCounter(ToyCounter.generation, 3, "cpu"), "cpu")
    prompts = [np.array([14, 2], np.int32), np.array([3, 1], np.int32), np.array([9, 4], np.int32),
               np.array([6, 5], np.int32), np.array([20, 1], np.int32)]
    order: list[int] = []
    answers: dict[int, np.ndarray] = {}

    def on_done(request_id: int, tokens: np.ndarray) -> None:
        order.append(request_id)
        answers[request_id] = tokens

    for i, prompt in enumerate(prompts):
        generator.submit(i, prompt, on_done)
    generator.drain()
    generator.close()
    assert sorted(order) == [0, 1, 2, 3, 4] and order != [0, 1, 2, 3, 4]  # short counts leave first
    assert order.index(1) < order.index(0) and order.index(3) < order.index(4)
    for i, prompt in enumerate(prompts):
        np.testing.assert_array_equal(answers[i], expected_tokens(prompt))
    assert generator.completed == 5 and generator.failure() is None


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["offline", "server"])
def test_counter_accuracy_runs_complete_each_sample_on_its_own(workdir: Path, scenario: str) -> None:
    proc, record = _run(workdir, "toy-counter", "--scenario", scenario, "--mode", "accuracy", "--backend", "torch",
                        "--batch-size", "4", "--target-qps", "100")
    record = _ok(proc, record)
    assert record["accuracy"]["metrics"] == {"exact_match": 100.0} and record["accuracy"]["passed"]
    assert record["harness_stats"]["completion_calls"] == record["harness_stats"]["samples"] == 32
    assert record["program"] == {"name": "Generate", "runner": "generator", "batching": "program"}


@pytest.mark.slow
@pytest.mark.parametrize("backend,scenario", [("torch", OFFLINE), ("torch", SERVER_SLOW), ("null", SERVER)])
def test_counter_performance_runs_are_valid(workdir: Path, backend: str, scenario: list[str]) -> None:
    proc, record = _run(workdir, "toy-counter", "--backend", backend, "--batch-size", "16", *scenario)
    record = _ok(proc, record)
    assert record["result"]["valid"] is True, record["result"]


def test_a_generator_model_on_a_network_only_backend_is_refused(workdir: Path) -> None:
    proc, record = _run(workdir, "toy-counter", "--scenario", "offline", "--backend", "onnxruntime")
    assert proc.returncode == 2 and record is None
    assert ("toy-counter needs a generator runner (its program is Generate), but backend onnxruntime offers only "
            "network runners") in proc.stderr
    assert "use --backend null or torch" in proc.stderr
