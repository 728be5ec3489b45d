"""System configs: strict loading, knob resolution, and SYSTEM=auto matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.machine.host import GpuInfo, HostInfo
from harness.system_configs import all_systems, load_system, match_system, resolve_system, system_names


def host(gpu: str | None = None, count: int = 0, memory_mib: int = 81559) -> HostInfo:
    gpus = tuple(GpuInfo(i, gpu, memory_mib) for i in range(count)) if gpu else ()
    return HostInfo("Test CPU", 8, 64.0, "Linux", gpus)


def test_every_shipped_config_loads() -> None:
    names = system_names()
    assert {"cpu", "l40s_x3", "a100_sxm_80gb_x8", "h100_sxm_80gb_x1", "h100_sxm_80gb_x8"} <= set(names)
    for system in all_systems():
        for model, scenarios in system.benchmarks.items():
            for scenario in scenarios:
                assert system.knobs(model, scenario, "torch").run.batch_size >= 1


def test_vendor_targets_and_backend_sections() -> None:
    h100 = load_system("h100_sxm_80gb_x1")
    assert h100.knobs("resnet50", "Server", "tensorrt").run.server_target_qps == 73000
    assert h100.knobs("resnet50", "Offline", "tensorrt").run.precision == "int8"
    assert h100.knobs("resnet50", "Offline", "torch").run.precision == "fp16"
    cpu = load_system("cpu")
    assert cpu.knobs("resnet50", "Offline", "null").run.batch_size == 4096
    assert cpu.knobs("resnet50", "Offline", "onnxruntime").run.batch_size == 8


@pytest.mark.parametrize("name,count,expected", [
    ("NVIDIA H100 80GB HBM3", 1, "h100_sxm_80gb_x1"),
    ("NVIDIA H100 80GB HBM3", 8, "h100_sxm_80gb_x8"),
    ("NVIDIA L40S", 3, "l40s_x3"),
    ("NVIDIA A100-SXM4-80GB", 8, "a100_sxm_80gb_x8"),
])
def test_auto_matches_known_machines(name: str, count: int, expected: str) -> None:
    system = match_system(host(name, count))
    assert system.name == expected and system.derived_from is None


def test_auto_scales_the_nearest_count() -> None:
    system = match_system(host("NVIDIA H100 80GB HBM3", 4))
    assert system.name == "h100_sxm_80gb_x4" and system.derived_from == "h100_sxm_80gb_x1"
    assert system.knobs("resnet50", "Server", "tensorrt").run.server_target_qps == pytest.approx(73000 * 4)
    assert "scaled" in system.notes[0]


def test_auto_never_exits_on_an_unknown_gpu() -> None:
    system = match_system(host("NVIDIA RTX 6000 Ada Generation", 2, memory_mib=49140))
    assert system.name == "nvidia_rtx_6000_ada_generation_x2"
    assert system.derived_from == "l40s_x3"  # nearest memory (48 GB)
    assert system.knobs("resnet50", "Offline", "tensorrt").run.offline_expected_qps == pytest.approx(135000 * 2 / 3)
    assert "guesses" in system.notes[0]


def test_no_gpu_gives_the_cpu_config() -> None:
    assert match_system(host()).name == "cpu"


def test_a_gpu_system_on_a_machine_without_gpu_is_refused() -> None:
    with pytest.raises(HarnessError, match="no GPU is visible"):
        resolve_system("h100_sxm_80gb_x1", host())


def test_unknown_system_lists_the_known_ones() -> None:
    with pytest.raises(HarnessError) as info:
        resolve_system("h100_typo", host())
    assert "cpu" in (info.value.fix or "")


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "systems").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "systems" / "mine.yaml").write_text(text)
    return tmp_path


def test_mistyped_knob_names_key_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path, "name: mine\ngpu: null\nbenchmarks:\n  resnet50:\n    Offline:\n      batch_sise: 8\n")
    monkeypatch.setenv("HARNESS_CONFIGS", str(root))
    with pytest.raises(HarnessError) as info:
        load_system("mine")
    assert "batch_sise" in info.value.message and "mine.yaml" in info.value.message
    assert "batch_size" in info.value.message  # the did-you-mean hint


def test_bad_value_in_a_backend_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path, "name: mine\nbenchmarks:\n  resnet50:\n    Server:\n      by_backend:\n"
                            "        torch: {precision: fp12}\n")
    monkeypatch.setenv("HARNESS_CONFIGS", str(root))
    with pytest.raises(HarnessError, match="by_backend.torch"):
        load_system("mine")


def test_unknown_backend_section_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path, "name: mine\nbenchmarks:\n  resnet50:\n    Offline:\n      by_backend:\n"
                            "        nul: {batch_size: 8}\n")
    monkeypatch.setenv("HARNESS_CONFIGS", str(root))
    with pytest.raises(HarnessError) as info:
        load_system("mine")
    assert "unknown key 'nul'" in info.value.message and "did you mean 'null'" in info.value.message


@pytest.mark.parametrize("entry,needle", [
    ("batch_size: eight", "batch_size must be an integer, got 'eight'"),
    ("batch_size: 2.5", "batch_size must be an integer, got 2.5"),
    ("offline_expected_qps: fast", "offline_expected_qps must be a number"),
    ("offline_expected_qps: .inf", "offline_expected_qps must be a finite number"),
    ("use_cuda_graphs: 1", "use_cuda_graphs must be true or false"),
    ("network: huge", "network 'huge' unknown"),
])
def test_ill_typed_values_name_the_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str,
                                                needle: str) -> None:
    root = _write(tmp_path, f"name: mine\nbenchmarks:\n  bert:\n    Offline:\n      {entry}\n")
    monkeypatch.setenv("HARNESS_CONFIGS", str(root))
    with pytest.raises(HarnessError) as info:
        load_system("mine")
    assert needle in info.value.message and "mine.yaml: benchmarks.bert.Offline" in info.value.message


def test_a_gpu_entry_without_match_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path, "name: mine\ngpu: {model: X, count: 1}\nbenchmarks: {}\n")
    monkeypatch.setenv("HARNESS_CONFIGS", str(root))
    with pytest.raises(HarnessError, match="gpu: missing match"):
        load_system("mine")


def test_knobs_go_to_their_owners() -> None:
    cpu = load_system("cpu")
    torch_knobs = cpu.knobs("resnet50", "Offline", "torch")
    assert torch_knobs.backend.channels_last is True  # a flat torch key applies when torch runs
    ort_knobs = cpu.knobs("resnet50", "Offline", "onnxruntime")
    assert not hasattr(ort_knobs.backend, "channels_last") and ort_knobs.run.offline_expected_qps == 16
    assert set(torch_knobs.as_dict()) == {"run", "backend", "model"}
