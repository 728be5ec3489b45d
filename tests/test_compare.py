"""`python -m harness compare` on Dell's shipped v4.1 R760 tree and on real runs of this machine (null backend),
the page checked in headless Chromium; bad input exits 2 with the fix."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pagebrowser import Browser, hrefs_resolve, start_browser
from test_pages_submission import SUBMITTER, SYSTEM, reference_tree

from harness.cli import main as harness
from harness.results.compare import Measured, compare, published_accelerator
from harness.results.published import load_published
from harness.system_configs import all_systems
from tests.conftest import run_cli, run_dir_of, run_records


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = start_browser()
    yield chromium
    chromium.close()


def load(browser: Browser, page: Path) -> None:
    assert page.is_file(), page
    assert browser.open(page) == []
    assert hrefs_resolve(browser, page) == []


def data(page: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((page.parent / "compare.json").read_text())
    return result


# -- the shipped submission tree ------------------------------------------------------------------------------

def test_the_dell_tree_matches_its_published_rows(browser: Browser, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert harness(["compare", "--submission-dir", str(reference_tree()), "--results-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    page = tmp_path / "compare" / f"{SUBMITTER}-{SYSTEM}" / "index.html"
    report = data(page)
    assert (report["accelerator"], report["gpus"]) == ("NVIDIA H100-PCIe-80GB", 2)
    rows = {(r["mlperf_model"], r["scenario"]): r for r in report["rows"]}
    assert len(rows) == 14
    for key, row in rows.items():
        assert row["same_system_agrees"] is True, key  # the CSV says what the logs say
        assert row["same_system"]["source"].endswith(
            f"closed/Dell/results/{SYSTEM}/{key[0]}/{key[1]}/performance/run_1/mlperf_log_summary.txt")
        assert row["comparable"] and row["flag"] == ""
        assert row["per_gpu"] == pytest.approx(row["value"] / 2)
        if row["reference"]["system"] == SYSTEM:
            assert row["ratio"] == pytest.approx(1.0, rel=1e-5)
        assert row["reference"]["accelerators"] == 2 and row["reference"]["round"] == "v4.1"
        low, high = row["published_range_per_gpu"]
        assert low <= row["per_gpu"] * (1 + 1e-5) and row["per_gpu"] <= high * (1 + 1e-5)
    gptj = rows[("gptj-99", "Offline")]
    assert (gptj["metric"], gptj["value"]) == ("tokens/s", 3317.08)
    # Cisco's C245M8 (2x H100-PCIe) is the best 2-GPU resnet50 Offline result of v4.1.
    resnet = rows[("resnet50", "Offline")]
    assert resnet["reference"]["system"] == "C245M8_H100_PCIe_80GBx2_TRT"
    assert resnet["ratio"] == pytest.approx(112968 / 113422)
    assert "matches its published row (v4.1): 103012.18 queries/s" in printed
    load(browser, page)
    assert len(browser.texts("#compare-table tr.result-row")) == 14
    assert set(browser.texts("td.same-system .valid")) == {"matches"}
    assert browser.texts("tr[data-model='resnet50'][data-scenario='Offline'] .ratio-value") == ["1.00"]
    links = browser.evaluate("Array.from(document.querySelectorAll('td.reference a')).map(a => a.href)")
    assert all(link.startswith("https://github.com/mlcommons/inference_results_v4.1/blob/") for link in links)


def test_one_round_only(tmp_path: Path) -> None:
    out = tmp_path / "page"
    assert harness(["compare", "--submission-dir", str(reference_tree()), "--round", "v4.0", "--out", str(out)]) == 0
    rows = {(r["mlperf_model"], r["scenario"]): r for r in data(out / "index.html")["rows"]}
    # v4.0 has no H100-PCIe result in the file; the Dell system itself is a v4.1 one.
    assert all(r["reference"] is None and r["same_system"] is None for r in rows.values())
    assert rows[("resnet50", "Offline")]["note"] == "no published NVIDIA H100-PCIe-80GB result in v4.0"


# -- runs of this machine ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("compare") / "work"
    work.mkdir()
    results = work / "results"
    base = ["run", "--model", "resnet50", "--backend", "null", "--results-dir", str(results)]
    run_cli([*base, "--scenario", "offline", "--min-duration-ms", "0", "--min-query-count", "2048"], cwd=work,
            check=True)
    # A loose bound keeps the Server run VALID on a loaded machine (it is flagged as not comparable anyway).
    run_cli([*base, "--scenario", "server", "--min-duration-ms", "1000", "--min-query-count", "1000",
             "--target-qps", "1000", "--target-latency-ms", "1000"], cwd=work, check=True)
    # Offline at 10 qps expected for 2 s: the null backend is done at once, so this later run is INVALID.
    run_cli([*base, "--scenario", "offline", "--min-duration-ms", "2000", "--min-query-count", "1",
             "--target-qps", "10"], cwd=work, check=True)
    records = run_records(results)
    assert [r["result"]["valid"] for r in records] == [True, True, False]
    return {"work": work, "results": results, "records": records, "system": records[0]["system"]}


@pytest.mark.slow
def test_runs_of_this_machine_are_shown_and_flagged(runs: dict[str, Any], browser: Browser) -> None:
    work, results = runs["work"], runs["results"]
    proc = run_cli(["compare", "--results-dir", str(results), "--accelerator", "nvidia l40s", "--gpus", "1"], work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = results / "compare" / runs["system"] / "index.html"
    report = data(page)
    assert (report["accelerator"], report["gpus"]) == ("NVIDIA L40S", 1)
    rows = {r["scenario"]: r for r in report["rows"]}
    offline, server = rows["Offline"], rows["Server"]
    # The latest VALID Offline run, not the later INVALID one.
    assert offline["run_id"] == runs["records"][0]["run_id"]
    assert offline["value"] == pytest.approx(runs["records"][0]["result"]["value"])
    assert server["run_id"] == runs["records"][1]["run_id"]
    published = load_published()
    best_two = max(r.per_accelerator for r in published if r.accelerator == "NVIDIA L40S" and r.model == "resnet50"
                   and r.scenario == "Offline" and r.accelerators == 2 and r.round == "v4.1")
    assert offline["reference"]["accelerators"] == 2  # no 1-GPU L40S result: the closest count is 2
    assert offline["ratio"] == pytest.approx(offline["value"] / best_two)
    for row in (offline, server):
        assert not row["comparable"] and "null backend (no inference)" in row["reasons"]
        assert row["flag"].startswith("not comparable: demo data")
    assert "!! not comparable: demo data" in proc.stdout
    load(browser, page)
    assert len(browser.texts("tr.result-row.not-comparable")) == 2
    assert all(text.startswith("not comparable") for text in browser.texts("tr.flag-row .flag"))
    href = browser.evaluate("document.querySelector(\"tr[data-scenario='Offline'] td.result a\").getAttribute('href')")
    assert (page.parent / href).resolve() == (run_dir_of(results, runs["records"][0]) / "run.html").resolve()


@pytest.mark.slow
def test_the_default_is_this_machines_system(runs: dict[str, Any]) -> None:
    proc = run_cli(["compare", "--results-dir", str(runs["results"])], runs["work"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = data(runs["results"] / "compare" / runs["system"] / "index.html")
    assert report["title"] == runs["system"]
    if report["accelerator"] is None:  # a machine without a GPU has nothing to compare with
        assert "the runs saw no GPU" in proc.stdout
        assert all(r["ratio"] is None for r in report["rows"])


@pytest.mark.slow
def test_no_valid_run_is_an_error(runs: dict[str, Any], tmp_path: Path) -> None:
    invalid = run_dir_of(runs["results"], runs["records"][2])
    copy = tmp_path / "results" / invalid.relative_to(runs["results"])
    shutil.copytree(invalid, copy)
    proc = run_cli(["compare", "--results-dir", str(tmp_path / "results")], runs["work"])
    assert proc.returncode == 2
    assert "no VALID performance runs for system" in proc.stderr and "no VALID run (latest: INVALID)" in proc.stderr
    assert "fix:" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_bad_input(runs: dict[str, Any], tmp_path: Path) -> None:
    results = str(runs["results"])

    def fails(*args: str) -> str:
        proc = run_cli(["compare", "--results-dir", results, *args], runs["work"])
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "fix:" in proc.stderr and "Traceback" not in proc.stderr
        return proc.stderr

    assert "unknown system 'nosuch'" in fails("--system", "nosuch")
    assert "no runs for system 'l40s_x3'" in fails("--system", "l40s_x3")
    assert "no published results of round 'v9.9'" in fails("--round", "v9.9")
    assert "v4.1, v4.0, v3.0" in fails("--round", "v9.9")
    assert "no published results for accelerator 'TPU'" in fails("--accelerator", "TPU")
    bad = tmp_path / "bad.csv"
    bad.write_text((Path(__file__).parent.parent / "configs/reference/published_results.csv").read_text()
                   .replace(",8,resnet50,Offline,samples/s,703770,", ",8,resnet50,Offline,samples/s,lots,"))
    assert "value must be a positive number, got 'lots'" in fails("--published", str(bad))
    assert "not found" in fails("--results-dir", str(tmp_path / "nowhere"))
    assert "not found" in fails("--submission-dir", str(tmp_path / "nowhere"))


# -- the parts -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gpu, published", [
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100-SXM-80GB"), ("NVIDIA H100 PCIe", "NVIDIA H100-PCIe-80GB"),
    ("NVIDIA H100 NVL", "NVIDIA H100-NVL-94GB"), ("NVIDIA H200", "NVIDIA H200-SXM-141GB"),
    ("NVIDIA L40S", "NVIDIA L40S"), ("NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM-80GB"),
    ("NVIDIA RTX 6000 Ada Generation", None), ("NVIDIA H100", None),
])
def test_driver_gpu_names_map_to_submission_names(gpu: str, published: str | None) -> None:
    known = [(s.gpu.model, s.gpu.match) for s in all_systems() if s.gpu is not None]
    assert published_accelerator(gpu, known, load_published()) == published


def test_results_in_another_unit_are_not_divided() -> None:
    measured = [Measured("gptj-99.9", "Offline", 2000.0, "tokens/s", True)]
    (row,) = compare(measured, load_published(), "NVIDIA H100-SXM-80GB", 1, "v4.0")
    assert row.reference is None and row.ratio is None and row.note == "published only in samples/s"
    (row,) = compare(measured, load_published(), "NVIDIA H100-SXM-80GB", 1)
    assert row.reference is not None and row.reference.metric == "tokens/s" and row.ratio is not None
