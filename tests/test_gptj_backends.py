"""GPT-J's runner choices: tensorrt-llm asked for without the package, the KV cache sizing, the null generator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.backends import backend_class
from harness.backends.base import BackendContext
from harness.errors import HarnessError
from models.gptj import GptJ
from models.gptj.memory import GIB, plan_slots, slot_bytes
from tests.conftest import run_cli


def test_tensorrt_llm_is_registered_and_says_when_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = backend_class("tensorrt-llm")
    assert cls.offers == ("generator",) and cls.can_build("generator", GptJ)
    monkeypatch.setitem(sys.modules, "tensorrt_llm", None)  # an import of it now fails
    with pytest.raises(HarnessError) as info:
        cls(GptJ(), BackendContext(kind="generator", device="cuda", precision="fp8"))
    assert "tensorrt_llm" in str(info.value) and "--backend torch" in str(info.value.fix)


@pytest.mark.skipif(backend_class("tensorrt-llm").availability()[0], reason="tensorrt_llm is installed here")
def test_cli_refuses_tensorrt_llm_when_not_installed(workdir: Path) -> None:
    proc = run_cli(["run", "--model", "gptj", "--scenario", "offline", "--backend", "tensorrt-llm", "--demo",
                    "--results-dir", str(workdir / "results")], workdir, timeout=120)
    assert proc.returncode != 0
    assert "tensorrt_llm package is not installed" in proc.stderr + proc.stdout
    assert not (workdir / "results").exists()  # nothing written


def test_gptj_6b_slot_size_and_plans() -> None:
    per_slot = slot_bytes(28, 4096, 16, 50400, 2, 4, 1919, 128)
    assert 1.03 * GIB < per_slot < 1.05 * GIB  # (1919 + 4 x 128) x 458,752 bytes + workspace
    free = int(66 * GIB)
    plan = plan_slots("cuda:0", 256, per_slot, free, 0.9, fit_to_memory=True)
    assert plan.slots == int(free * 0.9) // per_slot < 256 and plan.requested_slots == 256
    assert plan_slots("cuda:0", 16, per_slot, free, 0.9, fit_to_memory=False).slots == 16


def test_kv_cache_that_does_not_fit_names_the_knobs() -> None:
    per_slot = slot_bytes(28, 4096, 16, 50400, 2, 4, 1919, 128)
    with pytest.raises(HarnessError) as info:
        plan_slots("cuda:0", 192, per_slot, int(40 * GIB), 0.9, fit_to_memory=False)
    assert "batch_size 192" in str(info.value) and "kv_cache_fraction" in str(info.value)
    assert "--batch-size 34" in str(info.value.fix)
    with pytest.raises(HarnessError, match="does not fit on cuda:0: one slot needs 1.04"):
        plan_slots("cuda:0", 1, per_slot, int(1 * GIB), 0.9, fit_to_memory=True)


def test_null_backend_generator_ends_on_the_models_eos() -> None:
    model = GptJ()
    backend = backend_class("null")(model, BackendContext(kind="generator"))
    runner = backend.create_runner("cpu", 0)
    tokens = runner.generate([__import__("numpy").arange(5)])[0]
    assert tokens.tolist() == [model.generation.eos_token_id] * 30


def test_every_system_config_has_gptj_settings() -> None:
    from harness.system_configs import all_systems

    for system in all_systems():
        entry = system.benchmarks["gptj"]
        assert set(entry) == {"Offline", "Server"}, system.name
        assert entry["Offline"]["offline_expected_qps"] > 0 and entry["Server"]["server_target_qps"] > 0
        if system.gpu is not None:
            assert entry["Offline"]["by_backend"]["torch"]["precision"] == "bf16", system.name
            per_gpu = entry["Offline"]["offline_expected_qps"] / system.gpu.count
            assert 10 < per_gpu < 40, system.name  # samples/s per GPU, not tokens/s


def test_auto_backend_for_gptj_skips_what_cannot_generate() -> None:
    from harness.machine.host import GpuInfo, HostInfo
    from harness.resolve import choose_backend

    cpu = HostInfo("cpu", 2, 8.0, "Linux", ())
    assert choose_backend(cpu, "auto", GptJ)[0] == "torch"  # onnxruntime builds no generator
    gpu = HostInfo("cpu", 2, 8.0, "Linux", (GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559),))
    name, reason = choose_backend(gpu, "auto", GptJ)
    assert name == "torch"
    if not backend_class("tensorrt-llm").availability()[0]:
        assert "tensorrt-llm unusable" in reason
