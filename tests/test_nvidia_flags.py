"""NVIDIA-style flags (run_harness): every value is used or refused, none silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.spec import RunSpec
from harness.tools.run import nvidia_to_runs
from tests.conftest import run_cli


def _batch(run: list[str]) -> str | None:
    return run[run.index("--batch-size") + 1] if "--batch-size" in run else None


def test_gpu_batch_size_per_benchmark_by_any_name_or_alias() -> None:
    runs = nvidia_to_runs(["--benchmarks=resnet50,bert", "--scenarios=offline", "--gpu_batch_size=resnet:256,bert:64"])
    assert [_batch(r) for r in runs] == ["256", "64"]
    (run,) = nvidia_to_runs(["--benchmarks=resnet", "--scenarios=offline", "--gpu_batch_size=resnet50:32"])
    assert _batch(run) == "32"
    every = nvidia_to_runs(["--benchmarks=resnet50,bert", "--scenarios=offline", "--gpu_batch_size=16"])
    assert [_batch(r) for r in every] == ["16", "16"]


@pytest.mark.parametrize("value,needle", [("bad", "positive integer"), ("resnet50:bad", "positive integer"),
                                          ("resnet50:0", "positive integer"), ("bert:64", "not among --benchmarks"),
                                          ("resnet51:8", "unknown model")])
def test_a_gpu_batch_size_that_cannot_apply_is_refused(value: str, needle: str) -> None:
    with pytest.raises(HarnessError, match=needle):
        nvidia_to_runs(["--benchmarks=resnet50", "--scenarios=offline", f"--gpu_batch_size={value}"])


@pytest.mark.parametrize("flag", ["--benchmarks=", "--benchmarks=,", "--scenarios="])
def test_an_empty_list_is_refused(flag: str) -> None:
    args = ["--benchmarks=resnet50", flag] if flag.startswith("--scenarios") else [flag]
    with pytest.raises(HarnessError, match="is empty: nothing to run"):
        nvidia_to_runs(args)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0])
def test_target_qps_and_latency_must_be_finite(value: float) -> None:
    with pytest.raises(HarnessError, match="positive finite number"):
        RunSpec("resnet50", "offline", target_qps=value)
    with pytest.raises(HarnessError, match="positive finite number"):
        RunSpec("resnet50", "server", target_latency_ms=value)


def test_run_harness_refuses_before_running(workdir: Path) -> None:
    for args, needle in ((["--benchmarks="], "--benchmarks is empty"),
                         (["--benchmarks=resnet50", "--scenarios=offline", "--offline_expected_qps=inf",
                           "--backend", "null"], "--target-qps must be a positive finite number")):
        proc = run_cli(["run_harness", *args], workdir)
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (workdir / "results").exists()
