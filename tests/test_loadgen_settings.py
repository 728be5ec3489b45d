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
from tests.conftest import ROOT

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
plan = plan_run(rules, rules.model("resnet50"), sys.argv[1], sys.argv[2], 123.0, 256, fast=True)
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
