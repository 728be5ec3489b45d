"""Bad input: a clear message with the fix, a non-zero exit, and nothing that looks like a result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.machine.host import detect_host
from harness.resolve import _check_scenario
from harness.rules import load_rules
from models.resnet50 import ResNet50
from models.resnet50.demo import write_demo_imagenet
from tests.conftest import ROOT, run_cli, run_records

BASE = ["run", "--model", "resnet50", "--scenario", "offline", "--backend", "null"]


def _fails(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_unknown_model_lists_the_valid_ones(workdir: Path) -> None:
    _fails(run_cli(["run", "--model", "resnet51", "--scenario", "offline"], workdir),
           "unknown model 'resnet51'", "resnet50")


def test_unknown_scenario(workdir: Path) -> None:
    _fails(run_cli(["run", "--model", "resnet", "--scenario", "singlestream"], workdir),
           "unknown scenario 'singlestream'", "offline, server")


def test_unknown_mode_and_backend(workdir: Path) -> None:
    _fails(run_cli([*BASE, "--mode", "submission"], workdir), "unknown mode 'submission'")
    _fails(run_cli(["run", "--model", "resnet", "--scenario", "offline", "--backend", "tf"], workdir),
           "unknown backend 'tf'", "onnxruntime")


def test_a_scenario_the_model_lacks() -> None:
    class OfflineOnly(ResNet50):
        name = "offline-only"
        scenarios = ("Offline",)

    with pytest.raises(HarnessError) as info:
        _check_scenario(OfflineOnly, load_rules().model("resnet50"), "Server")
    assert "no Server scenario" in info.value.message and info.value.fix == "offline-only runs: offline"
    with pytest.raises(HarnessError, match="no Server scenario"):  # 3d-unet is Offline only in the rules
        _check_scenario(ResNet50, load_rules().model("3d-unet"), "Server")


def test_missing_dataset_directory_says_how_to_get_one(workdir: Path) -> None:
    _fails(run_cli([*BASE, "--data-dir", str(workdir / "imagenet")], workdir),
           "dataset directory", "not found", "python scripts/prepare_imagenet.py", "--demo")
    assert not (workdir / "results").exists()


def test_corrupt_image_names_it_and_writes_no_run(workdir: Path) -> None:
    data = workdir / "imagenet"
    write_demo_imagenet(data, 3)
    first = (data / "val_map.txt").read_text().split()[0]
    (data / first).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    _fails(run_cli([*BASE, "--data-dir", str(data)], workdir), "cannot read image", first)
    assert not (workdir / "results").exists()


def test_missing_weights_file(workdir: Path) -> None:
    _fails(run_cli(["run", "--model", "resnet50", "--scenario", "offline", "--backend", "torch",
                    "--weights", "resnet50-missing.pth"], workdir),
           "weights file resnet50-missing.pth not found", "python scripts/fetch_weights.py --model resnet50")


def test_mistyped_config_key_names_key_and_file(workdir: Path) -> None:
    configs = workdir / "configs"
    (configs / "systems").mkdir(parents=True)
    (configs / "rules").symlink_to(ROOT / "configs" / "rules")
    (configs / "systems" / "cpu.yaml").write_text(
        "name: cpu\ngpu: null\nbenchmarks:\n  resnet50:\n    Offline:\n      batch_size: 8\n      expected_qps: 5\n")
    _fails(run_cli(BASE, workdir, env={"HARNESS_CONFIGS": str(configs)}),
           "unknown key 'expected_qps'", "cpu.yaml", "offline_expected_qps")


@pytest.mark.skipif(bool(detect_host().gpus), reason="this machine has a GPU")
def test_gpu_asked_for_but_absent(workdir: Path) -> None:
    _fails(run_cli([*BASE, "--device", "cuda"], workdir), "GPU was asked for")
    _fails(run_cli([*BASE, "--system", "h100_sxm_80gb_x1"], workdir), "no GPU is visible")


def test_audit_config_in_working_directory_is_refused(workdir: Path) -> None:
    (workdir / "audit.config").write_text("*.*.performance_issue_same = 1\n")
    _fails(run_cli(BASE, workdir), "audit.config")


def test_ctrl_c_marks_the_run_incomplete(workdir: Path) -> None:
    results = workdir / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "MLPERF_DATA_DIR": str(workdir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--model", "resnet50", "--scenario", "server", "--backend", "null",
         "--demo",
         "--demo-samples", "32", "--target-qps", "500", "--min-duration-ms", "600000",
         "--results-dir", str(results)],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(results.glob("*/*/*/runs/*/user.conf")):
        time.sleep(0.2)
    time.sleep(1.5)  # LoadGen is issuing queries now
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "marked incomplete" in out
    (record,) = run_records(results)
    assert record["status"] == "interrupted" and "interrupted" in record["error"]
    run_dir = next(results.glob("*/*/*/runs/*"))
    assert (run_dir / "INCOMPLETE").is_file()
    assert not list(results.glob("*/*/*/performance"))  # never published as a result
