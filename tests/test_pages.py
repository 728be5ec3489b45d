"""Results pages of real runs (null, torch backends on demo data), checked in headless Chromium."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pagebrowser import Browser, hrefs_resolve, start_browser

from tests.conftest import run_cli, run_dir_of, run_records

pytestmark = pytest.mark.slow

USER_EDITS = {"submitter": "Acme Labs", "cooling": "Air-cooled", "host_memory_configuration": "2x 16GB DDR5",
              "host_processor_model_name": "Edited CPU name"}


def logged(run_dir: Path) -> dict[str, Any]:
    """Key -> value of a detail log, read independently of the harness's parser."""
    values: dict[str, Any] = {}
    for line in (run_dir / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            entry = json.loads(line[len(":::MLLOG "):])
            values.setdefault(entry["key"], entry["value"])
    return values


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("pages") / "work"
    work.mkdir()
    results = work / "results"
    base = ["run", "--model", "resnet50", "--results-dir", str(results)]
    run_cli([*base, "--scenario", "offline", "--backend", "null", "--min-duration-ms", "0",
             "--min-query-count", "2048"], cwd=work, check=True)
    # The first run wrote results/systems/cpu.json; the user fills in and corrects some fields.
    desc_path = results / "systems" / "cpu.json"
    assert not (work / "systems").exists()  # never the working directory
    desc = json.loads(desc_path.read_text())
    desc.update(USER_EDITS)
    desc_path.write_text(json.dumps(desc, indent=2))
    run_cli([*base, "--scenario", "server", "--backend", "null", "--min-duration-ms", "1000",
             "--min-query-count", "1000", "--target-qps", "2000"], cwd=work, check=True)
    # Offline at 10 qps expected for 2 s: the null backend is done at once, so the run is INVALID.
    run_cli([*base, "--scenario", "offline", "--backend", "null", "--min-duration-ms", "2000",
             "--min-query-count", "1", "--target-qps", "10"], cwd=work, check=True)
    run_cli([*base, "--scenario", "offline", "--mode", "accuracy", "--backend", "torch", "--demo-samples", "16"],
            cwd=work, check=True)
    report = run_cli(["report", "--results-dir", str(results)], cwd=work, check=True)
    records = run_records(results)
    assert [(r["scenario"], r["mode"]) for r in records] == [
        ("Offline", "performance"), ("Server", "performance"), ("Offline", "performance"), ("Offline", "accuracy")]
    dirs = [run_dir_of(results, r) for r in records]
    return {"work": work, "results": results, "records": records, "dirs": dirs, "report": report.stdout,
            "desc_path": desc_path}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = start_browser()
    yield chromium
    chromium.close()


def load(browser: Browser, page: Path, shot: Path) -> None:
    assert page.is_file(), page
    errors = browser.open(page)
    assert errors == [], errors
    browser.screenshot(shot)
    assert shot.stat().st_size > 10_000
    assert hrefs_resolve(browser, page) == []


def test_runs_keep_user_edits_in_the_systems_file(site: dict[str, Any]) -> None:
    desc = json.loads(site["desc_path"].read_text())
    for key, value in USER_EDITS.items():
        assert desc[key] == value
    for record in site["records"][1:]:  # every later run read the file and recorded it unchanged
        recorded = record["system_info"]["systems_json"]["description"]
        assert {k: recorded[k] for k in USER_EDITS} == USER_EDITS


def test_summary_page_shows_latest_valid_run(site: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    page = site["results"] / "cpu" / "summary.html"
    load(browser, page, tmp_path / "summary.png")
    assert browser.texts("h1.main-title") == ["MLPerf Inference v4.1"]
    assert browser.texts(".main-title-description") == ["Copyright 2019 - 2025 MLCommons"]
    assert browser.texts(".date-right") == ["August 2024"]
    system_name = json.loads(site["desc_path"].read_text())["system_name"]
    assert browser.texts("#system-title") == [f"Acme Labs - {system_name}"]
    assert browser.texts("#tester_val") == ["Acme Labs"]
    assert browser.texts("#license_num_val") == ["datacenter"]
    assert browser.texts("#sw_avail_val") == ["Available as of August 2024"]
    assert browser.texts("#test_date_val") == ["closed"]
    headings = browser.texts(".table-wrapper h3")
    assert headings == ["Accelerator Details", "Processor and Memory Details", "Other Hardware Details",
                        "Network and Interconnect Details", "Software Details", "Results Table"]
    processor = browser.texts("#section-processor-and-memory-details tr")
    assert processor[0] == "host_processor_model_name Edited CPU name"
    assert browser.texts('tr[data-model="resnet"] td.acc-target') == ["acc: 75.6954"]
    # Offline: the first run is VALID, the later INVALID one must not replace it.
    valid_offline, server, invalid_offline = site["dirs"][0], site["dirs"][1], site["dirs"][2]
    assert logged(valid_offline)["result_validity"] == "VALID"
    assert logged(invalid_offline)["result_validity"] == "INVALID"
    offline = browser.texts('tr[data-model="resnet"] td.perf[data-scenario="Offline"] .value')
    assert offline[0] == repr(float(logged(valid_offline)["result_samples_per_second"]))
    assert browser.texts('tr[data-model="resnet"] td.units[data-scenario="Offline"]') == ["Samples/s"]
    assert browser.texts('tr[data-model="resnet"] td.units[data-scenario="Server"]') == ["Queries/s"]
    server_log = logged(server)
    if server_log["result_validity"] == "VALID":  # a loaded machine can make the Server run miss its bound
        cell = browser.texts('tr[data-model="resnet"] td.perf[data-scenario="Server"] .value')[0]
        assert cell == repr(float(server_log["result_completed_samples_per_sec"]))
    else:
        cell = browser.texts('tr[data-model="resnet"] td.missing[data-scenario="Server"]')[0]
        assert "no VALID run" in cell
    # Demo data and the null backend are stamped on the page.
    assert any("null backend" in note and "demo data" in note for note in browser.texts("#footnotes li"))
    notes = " ".join(browser.texts("#notes li"))
    assert "host_memory_configuration" not in notes and "cooling" not in notes  # the user filled them in


def test_index_lists_every_benchmark_with_links(site: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    page = site["results"] / "index.html"
    load(browser, page, tmp_path / "index.png")
    offline = 'tr[data-system="cpu"][data-model="resnet50"][data-scenario="Offline"]'
    latest = browser.texts(f"{offline} td.latest")[0]
    assert "INVALID" in latest
    assert repr(float(logged(site["dirs"][2])["result_samples_per_second"])) in latest
    assert "VALID" in browser.texts(f"{offline} td.latest-valid")[0]
    assert "FAIL" in browser.texts(f"{offline} td.latest-accuracy")[0]  # random weights on random labels
    assert browser.texts('tr[data-system="cpu"][data-model="resnet50"][data-scenario="Server"]')
    hrefs = browser.evaluate(f"Array.from(document.querySelectorAll('{offline} a')).map(a => a.getAttribute('href'))")
    assert hrefs[0] == site["dirs"][2].relative_to(site["results"]).as_posix() + "/run.html"


def test_valid_run_page(site: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    run_dir = site["dirs"][0]
    load(browser, run_dir / "run.html", tmp_path / "run-valid.png")
    assert browser.texts("#headline-value") == [repr(float(logged(run_dir)["result_samples_per_second"]))]
    assert browser.texts("#validity") == ["VALID"]
    assert browser.evaluate("document.querySelectorAll('#latency svg rect').length") >= 7
    latency = dict(row.rsplit(" ", 2)[:2] for row in browser.texts("#latency-table tr"))
    assert float(latency["p99"]) == pytest.approx(logged(run_dir)["result_99.00_percentile_latency_ns"] / 1e6,
                                                  abs=1e-3)
    effective = browser.texts("#effective-settings tr")
    shown = [(k, v) for k, v in logged(run_dir).items() if k.startswith("effective_") and isinstance(v, (int, str))
             and not isinstance(v, bool)]
    assert ("effective_samples_per_query", 2048) in shown
    for key, value in shown:
        assert f"{key} {value}".strip() in effective
    assert "no NVIDIA GPU" in browser.texts("#telemetry-none")[0]
    assert any("NULL BACKEND" in s for s in browser.texts(".stamp-banner"))


def test_invalid_run_page_explains_and_suggests_a_fix(site: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    load(browser, site["dirs"][2] / "run.html", tmp_path / "run-invalid.png")
    assert browser.texts("#validity") == ["INVALID"]
    failure = browser.texts("#failures li")[0]
    assert failure.startswith("min_duration:")
    assert "fix: raise --target-qps" in failure
    assert "min_duration NOT met" in browser.texts("#constraints tr")


def test_server_run_page_marks_the_latency_bound(site: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    load(browser, site["dirs"][1] / "run.html", tmp_path / "run-server.png")
    assert "p99 bound 15 ms" in browser.texts("#latency svg text.bound")


def test_accuracy_run_page(site: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    run_dir = site["dirs"][3]
    load(browser, run_dir / "run.html", tmp_path / "run-accuracy.png")
    rows = browser.texts("#accuracy-table tr")
    assert rows[1].startswith("acc ") and "75.6954" in rows[1]
    assert browser.texts("#accuracy-txt")[0] == " ".join((run_dir / "accuracy.txt").read_text().split())
    assert "FAIL" in browser.texts("#accuracy-verdict")[0]


@pytest.fixture(scope="module")
def broken(site: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the site with damaged runs and an incomplete systems file."""
    work = tmp_path_factory.mktemp("broken")
    results, systems = work / "results", work / "systems"
    shutil.copytree(site["results"], results)
    shutil.copytree(site["results"] / "systems", systems)
    dirs = [results / d.relative_to(site["results"]) for d in site["dirs"]]
    detail = dirs[0] / "mlperf_log_detail.txt"
    text = detail.read_text()
    cut = text.index('"key": "result_validity"')
    detail.write_text(text[:cut])  # cut off mid-line, before the results
    (dirs[1] / "mlperf_log_detail.txt").unlink()
    (dirs[3] / "accuracy.txt").unlink()
    desc = json.loads((systems / "cpu.json").read_text())
    del desc["cooling"], desc["framework"]
    desc.update(submitter="", division="open")  # open division: the table gains accuracy columns
    (systems / "cpu.json").write_text(json.dumps(desc))
    stuck = dirs[2].parent / "20990101-000000-performance"  # a run killed before LoadGen wrote anything
    stuck.mkdir()
    (stuck / "INCOMPLETE").write_text("This run has not finished (or was interrupted). It is not a result.\n")
    proc = run_cli(["report", "--results-dir", str(results), "--systems-dir", str(systems)], cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"results": results, "dirs": dirs, "stuck": stuck}


def test_broken_input_shows_what_is_missing(broken: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    load(browser, broken["results"] / "cpu" / "summary.html", tmp_path / "broken-summary.png")
    notes = " ".join(browser.texts("#notes li"))
    assert "missing fields: framework, cooling" in notes and "need a value: submitter" in notes
    # The only VALID Offline run lost its results: nothing VALID is left to show.
    assert "no VALID run" in browser.texts('tr[data-model="resnet"] td.missing[data-scenario="Offline"]')[0]
    assert "no VALID run" in browser.texts('tr[data-model="resnet"] td.missing[data-scenario="Server"]')[0]
    assert browser.texts('tr[data-model="resnet"] td.units[data-scenario="Server"]') == ["Queries/s"]
    assert browser.texts("#test_date_val") == ["open"]
    assert browser.texts("#results-table th").count("Accuracy") == 2
    assert "acc: 0.0" in browser.texts('tr[data-model="resnet"] td.accuracy')

    load(browser, broken["dirs"][0] / "run.html", tmp_path / "broken-truncated.png")
    assert any("cut off" in p or "truncated" in p for p in browser.texts("#problems li"))
    load(browser, broken["dirs"][1] / "run.html", tmp_path / "broken-nolog.png")
    assert any("mlperf_log_detail.txt is missing" in p for p in browser.texts("#problems li"))
    assert browser.texts("#headline") == ["no result"]
    load(browser, broken["dirs"][3] / "run.html", tmp_path / "broken-accuracy.png")
    assert any("accuracy.txt is missing" in p for p in browser.texts("#problems li"))
    load(browser, broken["stuck"] / "run.html", tmp_path / "broken-stuck.png")
    assert "not a result" in browser.texts("#status-banner")[0]
    assert any("run.json is missing" in p for p in browser.texts("#problems li"))
    load(browser, broken["results"] / "index.html", tmp_path / "broken-index.png")


def test_report_errors(tmp_path: Path) -> None:
    proc = run_cli(["report", "--results-dir", str(tmp_path / "nowhere")], cwd=tmp_path)
    assert proc.returncode == 2 and "results directory" in proc.stderr and "fix:" in proc.stderr
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    proc = run_cli(["report", "--results-dir", str(tmp_path / "results"), "--system", "h100"], cwd=tmp_path)
    assert proc.returncode == 2 and "no runs for system 'h100'" in proc.stderr
    assert not list(tmp_path.rglob("*.html"))


def test_run_page_charts_gpu_telemetry(site: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    """A run whose record holds a telemetry series (nvidia-smi readings in its real format) gets charts."""
    from harness.machine import telemetry
    from harness.results.record import read_record

    results = tmp_path / "results"
    run_dir = results / site["dirs"][1].relative_to(site["results"])
    shutil.copytree(site["dirs"][1], run_dir)
    readings = iter(f"0, {1700 + 10 * i}, 1593, {300.0 + i}, {55 + i}, 99, 40000\n"
                    f"1, {1690 + 10 * i}, 1593, {290.0 + i}, {54 + i}, 98, 40000\n" for i in range(1000))
    sampler = telemetry.Sampler(run_dir, None, interval_s=0.01, query=lambda ids: next(readings)).start()
    time.sleep(0.1)
    record = read_record(run_dir)
    record.telemetry = sampler.stop()
    record.write(run_dir)
    run_cli(["report", "--results-dir", str(results)], cwd=tmp_path, check=True)
    load(browser, run_dir / "run.html", tmp_path / "run-telemetry.png")
    charts = browser.texts("#telemetry svg .chart-title")
    assert charts == ["SM clock (MHz)", "Memory clock (MHz)", "Power (W)", "Temperature (°C)", "Utilization (%)"]
    assert browser.evaluate("document.querySelectorAll('#telemetry svg polyline').length") == 10  # 5 x 2 GPUs
    assert f"{record.telemetry['samples']} samples from nvidia-smi" in browser.texts("#telemetry p")[0]
