"""systems/<name>.json: detection, the submission checker's fields, and never overwriting the user's edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.machine import description as sysdesc
from harness.machine.host import detect_host
from tests.conftest import run_cli


def test_detection_fills_every_required_field() -> None:
    desc = sysdesc.describe("box")
    assert set(sysdesc.REQUIRED_FIELDS) <= set(desc)
    assert set(sysdesc.POWER_FIELDS) <= set(desc)
    host = detect_host()
    assert desc["host_processor_model_name"] == host.cpu_model
    assert desc["operating_system"] == host.os
    assert int(desc["host_processors_per_node"]) >= 1 and int(desc["host_processor_core_count"]) >= 1
    if not host.gpus:
        assert desc["accelerators_per_node"] == "0" and desc["accelerator_model_name"] == "N/A"
    else:
        assert desc["accelerators_per_node"] == len(host.gpus)
        assert desc["accelerator_model_name"] == host.gpus[0].name
    assert desc["status"] in sysdesc.VALID_STATUS and desc["system_type"] in sysdesc.VALID_SYSTEM_TYPES
    problems = sysdesc.check(desc)
    assert not problems.missing and not problems.invalid
    # What no probe can know is left for the user, and said so.
    assert {"submitter", "cooling", "host_memory_configuration"} <= set(problems.empty)


def test_check_flags_missing_empty_and_invalid() -> None:
    desc = sysdesc.describe("box")
    del desc["cooling"]
    desc.update(submitter="Acme", host_memory_configuration="", status="sold out", system_type="laptop")
    problems = sysdesc.check(desc)
    assert problems.missing == ["cooling"]
    assert "host_memory_configuration" in problems.empty and "submitter" not in problems.empty
    assert len(problems.invalid) == 2 and "status 'sold out'" in problems.invalid[0]


def test_user_edits_survive_new_detections(tmp_path: Path) -> None:
    first = sysdesc.describe("box")
    update = sysdesc.ensure(tmp_path, "box", detected=first)
    assert update.created and json.loads((tmp_path / "box.json").read_text()) == first
    path = tmp_path / "box.json"
    edited = json.loads(path.read_text())
    edited.update(submitter="Acme", host_memory_capacity="512 GB (edited)", my_note="kept too")
    path.write_text(json.dumps(edited, indent=2))
    # The machine changed: more memory, a new driver, and a field the detector did not know before.
    second = dict(first, host_memory_capacity="1 TB", other_software_stack="Driver 999", new_field="x")
    update = sysdesc.ensure(tmp_path, "box", detected=second)
    merged = json.loads(path.read_text())
    assert merged["submitter"] == "Acme" and merged["host_memory_capacity"] == "512 GB (edited)"
    assert merged["my_note"] == "kept too"
    assert merged["other_software_stack"] == "Driver 999"  # untouched by the user: refreshed
    assert merged["new_field"] == "x"
    assert update.kept == ["submitter", "host_memory_capacity"]
    assert update.refreshed == ["other_software_stack"] and update.added == ["new_field"]
    # Nothing new detected: the file is left alone, byte for byte.
    before = path.read_bytes()
    assert not sysdesc.ensure(tmp_path, "box", detected=second).changed
    assert path.read_bytes() == before


def test_without_the_detection_record_every_value_is_the_users(tmp_path: Path) -> None:
    handwritten = {"submitter": "Acme", "framework": "TensorRT 10.2", "cooling": "liquid"}
    (tmp_path / "box.json").write_text(json.dumps(handwritten))
    detected = sysdesc.describe("box")
    update = sysdesc.ensure(tmp_path, "box", detected=dict(detected, framework="PyTorch"))
    merged = json.loads((tmp_path / "box.json").read_text())
    assert {k: merged[k] for k in handwritten} == handwritten
    assert set(sysdesc.REQUIRED_FIELDS) <= set(merged)  # the rest is filled in
    assert "framework" in update.kept


def test_broken_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "box.json"
    path.write_text('{"submitter": "Acme",')
    with pytest.raises(HarnessError) as err:
        sysdesc.ensure(tmp_path, "box")
    assert "not valid JSON" in str(err.value) and err.value.fix
    assert path.read_text() == '{"submitter": "Acme",'
    recorded = sysdesc.for_run("box", tmp_path)  # a run records the problem and carries on
    assert "not valid JSON" in recorded["error"]
    with pytest.raises(HarnessError):
        sysdesc.ensure(tmp_path, "../escape")


def test_system_command(tmp_path: Path) -> None:
    systems = tmp_path / "systems"
    proc = run_cli(["system", "--name", "box", "--systems-dir", str(systems)], cwd=tmp_path, check=True)
    assert f"wrote {systems / 'box.json'}" in proc.stdout
    assert "still needed for the submission checker" in proc.stdout and "submitter" in proc.stdout
    data = json.loads((systems / "box.json").read_text())
    assert set(sysdesc.REQUIRED_FIELDS) <= set(data)
    data["submitter"] = "Acme"
    (systems / "box.json").write_text(json.dumps(data))
    proc = run_cli(["system", "--name", "box", "--systems-dir", str(systems)], cwd=tmp_path, check=True)
    assert "is up to date" in proc.stdout
    assert json.loads((systems / "box.json").read_text())["submitter"] == "Acme"
    proc = run_cli(["system", "--systems-dir", str(tmp_path / "other"), "--check"], cwd=tmp_path, check=True)
    assert "would be created" in proc.stdout and not (tmp_path / "other").exists()
    (systems / "bad.json").write_text("[1, 2]")
    proc = run_cli(["system", "--name", "bad", "--systems-dir", str(systems)], cwd=tmp_path)
    assert proc.returncode == 2 and "expected a JSON object" in proc.stderr and "fix:" in proc.stderr


def test_framework_names_the_backend_that_ran() -> None:
    from harness.machine.probe import NULL_FRAMEWORK, framework_of, package_version

    assert framework_of("null") == NULL_FRAMEWORK
    assert framework_of("onnxruntime").startswith("ONNX Runtime ")
    # Where only TensorRT for RTX installs (PyPI), a tensorrt-backend run names it, not plain TensorRT.
    full = package_version("tensorrt", "tensorrt-cu12", "tensorrt_cu12", "tensorrt-cu13")
    assert framework_of("tensorrt").startswith("TensorRT " if full else "TensorRT for RTX ")


def test_framework_follows_what_the_backend_recorded() -> None:
    from harness.machine.probe import framework_of

    assert framework_of("tensorrt", {"tensorrt_rtx": "1.7.1.116", "torch": "2.14"}) == "TensorRT for RTX 1.7.1.116"
    assert framework_of("tensorrt", {"tensorrt": "10.13.0", "torch": "2.14"}) == "TensorRT 10.13.0"
    assert framework_of("torch", {"torch": "2.11.0"}) == "PyTorch 2.11.0"
