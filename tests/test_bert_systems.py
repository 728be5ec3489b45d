"""BERT entries in the system configs: every system can run it, GPU systems carry the vendor knobs."""

from __future__ import annotations

from harness.system_configs import all_systems, load_system


def test_every_system_has_bert_offline_and_server() -> None:
    for system in all_systems():
        for scenario in ("Offline", "Server"):
            assert system.has_entry("bert", scenario), (system.name, scenario)
            knobs = system.knobs("bert", scenario, "torch").run
            target = knobs.offline_expected_qps if scenario == "Offline" else knobs.server_target_qps
            assert target and target > 0, (system.name, scenario)
            if system.gpu is not None:
                assert knobs.precision == "fp16"  # torch runs BERT in fp16 on GPUs
                assert system.knobs("bert", scenario, "tensorrt").run.precision == "int8"


def test_h100_knobs_are_nvidias() -> None:
    h100 = load_system("h100_sxm_80gb_x1")
    offline = h100.knobs("bert", "Offline", "tensorrt").run
    server = h100.knobs("bert", "Server", "tensorrt").run
    assert (offline.batch_size, offline.offline_expected_qps) == (1280, 9400)
    assert (server.batch_size, server.streams_per_device, server.server_target_qps) == (128, 2, 7000)


def test_cpu_demo_knobs() -> None:
    cpu = load_system("cpu")
    assert cpu.knobs("bert", "Offline", "onnxruntime").run.batch_size == 8
    assert cpu.knobs("bert", "Server", "onnxruntime").run.server_target_qps == 10
