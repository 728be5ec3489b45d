"""user.conf contents and the TestSettings LoadGen builds from it (in a fresh process each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.loadgen_settings import check_no_audit_config, plan_run, user_conf_text
from harness.rules import load_rules
from harness.run_checks import check_loadgen_memory
from tests.conftest import ROOT, run_cli

RULES = load_rules("v4.1")
RN50 = RULES.model("resnet50")


def test_rules_carry_the_v41_seeds_and_bounds() -> None:
    assert RULES.seeds == {"qsl_rng_seed": 3066443479025735752, "sample_index_rng_seed": 10688027786191513374,
                           "schedule_rng_seed": 14962580496156340209}
    assert RULES.min_duration_ms == 600000
    assert RN50.performance_sample_count == 1024 and RN50.offline_min_query_count == 24576
    assert RN50.server_target_latency_ms == 15
    # The submission checker's own products, bit for bit: 90.874 x 0.999 is 90.783126, not 90.7831.
    assert RN50.accuracy_targets["resnet50"] == {"acc": 76.46 * 0.99}
    assert RULES.model("bert").accuracy_targets["bert-99.9"] == {"F1": 90.874 * 0.999}
    assert round(RULES.model("bert").accuracy_targets["bert-99.9"]["F1"], 6) == 90.783126


def test_submission_run_writes_only_the_target() -> None:
    plan = plan_run(RULES, RN50, "Offline", "performance", 90000, 50000)
    assert plan.run_length == "rules"
    assert user_conf_text(plan).splitlines()[1:] == ["resnet50.Offline.target_qps = 90000"]


def test_fast_and_demo_runs_shorten_and_shrink() -> None:
    fast = plan_run(RULES, RN50, "Server", "performance", 73000, 50000, fast=True)
    assert fast.run_length == "fast"
    assert user_conf_text(fast).splitlines()[1:] == [
        "resnet50.Server.target_qps = 73000", "resnet50.Server.min_duration = 60000",
        "resnet50.Server.min_query_count = 1"]
    demo = plan_run(RULES, RN50, "Offline", "performance", 12, 256, demo=True)
    lines = user_conf_text(demo).splitlines()
    assert "resnet50.Offline.min_duration = 10000" in lines
    assert "resnet50.Offline.performance_sample_count_override = 256" in lines


def test_cli_overrides_win_and_latency_bound_only_for_server() -> None:
    plan = plan_run(RULES, RN50, "Server", "performance", 8, 256, demo=True, min_duration_ms=0,
                    min_query_count=500, target_latency_ms=2000)
    lines = user_conf_text(plan).splitlines()
    assert plan.run_length == "custom"
    assert {"resnet50.Server.min_duration = 0", "resnet50.Server.min_query_count = 500",
            "resnet50.Server.target_latency = 2000"} <= set(lines)
    offline = plan_run(RULES, RN50, "Offline", "performance", 8, 2000, target_latency_ms=2000)
    assert "target_latency" not in user_conf_text(offline)


def test_bad_values_are_rejected() -> None:
    with pytest.raises(HarnessError):
        plan_run(RULES, RN50, "Offline", "performance", 0, 100)


@pytest.mark.parametrize("scenario", ["Offline", "Server"])
def test_an_empty_run_is_refused(scenario: str) -> None:
    """LoadGen crashes (Server, exit 139) or reports no result (Offline) with no minimum duration and no
    minimum query count."""
    with pytest.raises(HarnessError, match="empty run"):
        plan_run(RULES, RN50, scenario, "performance", 100, 256, min_duration_ms=0, min_query_count=0)
    plan_run(RULES, RN50, scenario, "performance", 100, 256, min_duration_ms=0)  # the rules' query count
    plan_run(RULES, RN50, scenario, "performance", 100, 256, min_duration_ms=1, min_query_count=0)
    plan_run(RULES, RN50, scenario, "accuracy", 100, 256, min_duration_ms=0, min_query_count=0)


def test_an_empty_run_is_refused_before_anything_is_built(workdir: Path) -> None:
    proc = run_cli(["run", "--model", "resnet50", "--scenario", "server", "--backend", "null", "--demo",
                    "--min-duration-ms", "0", "--min-query-count", "0", "--results-dir", "results"], workdir)
    assert proc.returncode == 2 and "empty run" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (workdir / "results").exists()


def test_audit_config_in_the_working_directory_is_refused(tmp_path: Path) -> None:
    check_no_audit_config(tmp_path)
    (tmp_path / "audit.config").write_text("*.*.mode = 2\n")
    with pytest.raises(HarnessError, match="audit.config"):
        check_no_audit_config(tmp_path)


_PROBE = r"""
import json, sys
from pathlib import Path
from harness.loadgen_settings import make_test_settings, plan_run, user_conf_text
from harness.rules import load_rules
rules = load_rules("v4.1")
latency = float(sys.argv[4]) if len(sys.argv) > 4 else None
plan = plan_run(rules, rules.model("resnet50"), sys.argv[1], sys.argv[2], 123.0, 256, fast=True,
                target_latency_ms=latency)
conf = Path(sys.argv[3]); conf.write_text(user_conf_text(plan))
s = make_test_settings(plan, conf)
out = {k: getattr(s, k) for k in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed",
       "min_duration_ms", "min_query_count", "server_target_qps", "offline_expected_qps",
       "server_target_latency_ns", "performance_sample_count_override")}
out["mode"] = str(s.mode); out["scenario"] = str(s.scenario)
try:
    make_test_settings(plan, conf)
except RuntimeError as exc:
    out["second_call"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.parametrize("scenario,mode", [("Server", "performance"), ("Offline", "accuracy")])
def test_test_settings_from_user_conf(tmp_path: Path, scenario: str, mode: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE, scenario, mode, str(tmp_path / "user.conf")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["qsl_rng_seed"] == 3066443479025735752
    assert got["sample_index_rng_seed"] == 10688027786191513374
    assert got["schedule_rng_seed"] == 14962580496156340209
    assert got["min_duration_ms"] == 60000 and got["min_query_count"] == 1
    assert got["performance_sample_count_override"] == 256
    assert got["server_target_latency_ns"] == 15_000_000  # from the embedded mlperf.conf
    if scenario == "Server":
        assert got["server_target_qps"] == pytest.approx(123.0)
        assert got["mode"].endswith("PerformanceOnly") and got["scenario"].endswith("Server")
    else:
        assert got["offline_expected_qps"] == pytest.approx(123.0)
        assert got["mode"].endswith("AccuracyOnly")
    assert "already loaded" in got["second_call"]


@pytest.mark.parametrize("latency_ms,expected_ns", [(2.5, 2_500_000), (0.01, 10_000), (3, 3_000_000)])
def test_a_latency_bound_reaches_loadgen_in_nanoseconds(tmp_path: Path, latency_ms: float,
                                                         expected_ns: int) -> None:
    """user.conf's target_latency is whole milliseconds: 2.5 ms became 2 ms and 0.01 ms became 0."""
    conf = tmp_path / "user.conf"
    proc = subprocess.run([sys.executable, "-c", _PROBE, "Server", "performance", str(conf), str(latency_ms)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["server_target_latency_ns"] == expected_ns
    text = conf.read_text()
    if float(latency_ms).is_integer():
        assert f"resnet50.Server.target_latency = {int(latency_ms)}" in text
    else:
        assert "\nresnet50.Server.target_latency" not in text and f"= {expected_ns}" in text


def test_a_latency_bound_below_a_nanosecond_is_refused() -> None:
    with pytest.raises(HarnessError, match="resolution"):
        plan_run(RULES, RN50, "Server", "performance", 100, 256, target_latency_ms=1e-7)


def test_a_run_larger_than_free_memory_is_refused(workdir: Path) -> None:
    """LoadGen makes an Offline query (a Server schedule) up front: 5M queries/s for 2 s took 4.6 GB."""
    offline = plan_run(RULES, RN50, "Offline", "performance", 1e6, 256, min_duration_ms=600_000)
    with pytest.raises(HarnessError, match="about 600,000,000 samples in its one Offline query"):
        check_loadgen_memory(offline, 600_000, 24576, available_bytes=16 * 2**30)
    check_loadgen_memory(offline, 600_000, 24576, available_bytes=2**40)
    server = plan_run(RULES, RN50, "Server", "performance", 5e6, 256, min_duration_ms=2000)
    with pytest.raises(HarnessError, match="queries in its Server schedule"):
        check_loadgen_memory(server, 600_000, 100, available_bytes=2 * 2**30)
    check_loadgen_memory(plan_run(RULES, RN50, "Server", "accuracy", 5e6, 256), 600_000, 100, available_bytes=1)
    proc = run_cli(["run", "--model", "resnet50", "--scenario", "offline", "--backend", "null", "--demo",
                    "--demo-samples", "16", "--target-qps", "1e12", "--results-dir", "results"], workdir)
    assert proc.returncode == 2 and "GiB of memory is free" in proc.stderr and "Traceback" not in proc.stderr
    assert not list((workdir / "results").glob("*/*/*/runs/*"))
