"""Target-QPS search: the bisection itself, and real short probes through the CLI with the null backend."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness.tools.search import Probe, find_highest_valid, find_offline_rate
from tests.conftest import ROOT, run_cli, run_records


def test_bisection_brackets_the_edge() -> None:
    edge = 1234.0
    seen: list[float] = []

    def probe(qps: float) -> Probe:
        seen.append(qps)
        return Probe(qps, qps <= edge)

    result = find_highest_valid(probe, 500, max_probes=20, tolerance=0.02)
    assert seen[:3] == [500, 750, 1125]  # grows x1.5 while VALID
    assert seen[3] == pytest.approx(1687.5)  # first INVALID, then bisection
    best = result.best
    assert best is not None and best.qps <= edge and best.qps > edge / 1.02
    down = find_highest_valid(probe, 5000, max_probes=20, tolerance=0.02)  # starts INVALID: shrinks first
    assert down.probes[0].valid is False and down.best is not None and down.best.qps > edge / 1.02


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", root)
    return root


@pytest.mark.slow
def test_server_search_writes_an_override_that_runs_pick_up(workdir: Path, configs: Path) -> None:
    env = {"HARNESS_CONFIGS": str(configs)}
    proc = run_cli(["search", "--model", "resnet", "--scenario", "server", "--backend", "null", "--system", "cpu",
                    "--demo", "--start-qps", "4000", "--probe-duration-ms", "1500", "--max-probes", "3",
                    "--results-dir", str(workdir / "search"), "--write"], workdir, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "search resnet50 Server on cpu with null, from 4,000.0 QPS" in proc.stdout
    curve = re.findall(r"^\s+[\d,.]+\s+\S+\s+\S+ queries/s\s+(VALID|INVALID)", proc.stdout, re.MULTILINE)
    assert len(curve) == 3  # the curve walked: one line per probe
    written = yaml.safe_load((configs / "systems" / "searched" / "cpu.yaml").read_text())
    entry = written["resnet50"]["Server"]["null"]
    assert entry["knobs"]["server_target_qps"] >= 4000 and len(entry["found"]["probes"]) == 3
    assert all(r["status"] == "complete" for r in run_records(workdir / "search"))
    run = run_cli(["run", "--model", "resnet50", "--scenario", "server", "--backend", "null", "--system", "cpu",
                   "--demo", "--min-duration-ms", "500", "--results-dir", str(workdir / "after")], workdir, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    (record,) = run_records(workdir / "after")
    assert record["knobs"]["server_target_qps"] == entry["knobs"]["server_target_qps"]


@pytest.mark.slow
def test_a_probe_far_behind_stops_early_as_invalid(workdir: Path) -> None:
    proc = run_cli(["run", "--model", "resnet50", "--scenario", "server", "--backend", "onnxruntime", "--demo",
                    "--demo-samples", "16", "--target-qps", "500", "--min-duration-ms", "60000",
                    "--abort-when-behind", "1", "--results-dir", str(workdir / "r")], workdir)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    (record,) = run_records(workdir / "r")
    assert record["status"] == "aborted" and record["result"]["valid"] is False
    assert "clearly INVALID" in record["result"]["explanation"][0]
    assert not list((workdir / "r").glob("*/*/*/performance"))


def test_a_one_off_invalid_probe_is_repeated() -> None:
    glitches = {1500.0}  # the first probe at this target stalls once

    def probe(qps: float) -> Probe:
        if qps in glitches:
            glitches.discard(qps)
            return Probe(qps, False, note="p99 23 ms")
        return Probe(qps, qps <= 5000)

    result = find_highest_valid(probe, 1000, max_probes=20, tolerance=0.05)
    assert [p.qps for p in result.probes[:3]] == [1000, 1500, 1500]
    assert result.probes[2].valid and "repeat" in result.probes[2].note
    assert result.best is not None and result.best.qps > 5000 / 1.05


@pytest.mark.slow
def test_offline_search_reruns_at_the_measured_rate(workdir: Path) -> None:
    proc = run_cli(["search", "--model", "resnet50", "--scenario", "offline", "--backend", "null", "--system", "cpu",
                    "--demo", "--start-qps", "50000", "--probe-duration-ms", "1000",
                    "--results-dir", str(workdir / "search")], workdir)
    records = run_records(workdir / "search")
    assert len(records) >= 2, proc.stdout + proc.stderr
    first, second = records[:2]
    assert first["loadgen"]["plan"]["target_qps"] == 50000
    assert first["result"]["valid"] is False  # the null backend outruns 50k expected samples/s: finished early
    # each rerun expects 5% more than the previous run measured
    assert second["loadgen"]["plan"]["target_qps"] == pytest.approx(first["result"]["value"] * 1.05, rel=1e-4)
    valid = [r for r in records if r["result"]["valid"]]
    if valid:  # a run long enough to be VALID within the 4 probes: the answer is its rate
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"offline_expected_qps: {valid[0]['result']['value']:,.1f}" in proc.stdout
    else:  # a machine too loaded to converge: the search says so and exits 3
        assert proc.returncode == 3 and "no VALID probe" in proc.stdout


def test_offline_rate_converges_as_queries_grow() -> None:
    # a backend whose rate grows with the query size, like any with fixed costs per run
    def probe(qps: float) -> Probe:
        achieved = 1000.0 if qps < 900 else 1200.0
        return Probe(qps, valid=achieved <= 1.1 * qps, value=achieved)

    result = find_offline_rate(probe, 100)
    assert [round(p.qps) for p in result.probes] == [100, 1050, 1260]
    assert result.best is not None and result.best.value == 1200.0
