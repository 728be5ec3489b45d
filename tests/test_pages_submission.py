"""The MLPerf results page of a real submission tree (Dell's v4.1 R760 results), checked in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pagebrowser import Browser, hrefs_resolve, start_browser

from tests.conftest import ROOT, run_cli

SUBMITTER, SYSTEM = "Dell", "R760_H100_PCIe_80GBx2_TRT"
# The detail-log key of the published number, per scenario (token keys first: they exist for GPT-J only).
KEYS = {"Offline": ("result_inferred_tokens_per_second", "result_samples_per_second"),
        "Server": ("result_inferred_completed_tokens_per_second", "result_completed_samples_per_sec")}
UNITS = {"result_samples_per_second": "Samples/s", "result_completed_samples_per_sec": "Queries/s",
         "result_inferred_tokens_per_second": "Tokens/s", "result_inferred_completed_tokens_per_second": "Tokens/s"}


def reference_tree() -> Path:
    candidates = [os.environ.get("MLPERF_REFERENCE_DIR", ""), ROOT.parent / "shared" / "reference",
                  ROOT.parent.parent / "shared" / "reference"]
    for base in candidates:
        tree = Path(base) / "mlperf-v4.1-dell-r760" if base else None
        if tree is not None and (tree / "closed" / SUBMITTER).is_dir():
            return tree
    pytest.skip("the Dell v4.1 submission tree (shared/reference/mlperf-v4.1-dell-r760) is not beside the checkout")


def published(tree: Path) -> dict[tuple[str, str], tuple[str, float]]:
    """(benchmark, scenario) -> (detail-log key, value), read straight off the logs."""
    out = {}
    for detail in sorted((tree / "closed" / SUBMITTER / "results" / SYSTEM).glob(
            "*/*/performance/run_1/mlperf_log_detail.txt")):
        scenario = detail.parents[2].name
        values = {}
        for line in detail.read_text().splitlines():
            if line.startswith(":::MLLOG "):
                entry = json.loads(line[len(":::MLLOG "):])
                values.setdefault(entry["key"], entry["value"])
        key = next(k for k in KEYS[scenario] if k in values)
        out[(detail.parents[3].name, scenario)] = (key, float(values[key]))
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = start_browser()
    yield chromium
    chromium.close()


def render(tree: Path, out: Path | None, cwd: Path, *extra: str) -> Any:
    args = ["report", "--submission-dir", str(tree), "--submitter", SUBMITTER, "--system", SYSTEM, *extra]
    return run_cli(args + (["--out", str(out)] if out else []), cwd=cwd)


def test_dell_page_carries_the_published_values(browser: Browser, tmp_path: Path) -> None:
    tree = reference_tree()
    page = tmp_path / "summary.html"
    proc = render(tree, page, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert browser.open(page) == []
    browser.screenshot(tmp_path / "dell.png")
    desc = json.loads((tree / "closed" / SUBMITTER / "systems" / f"{SYSTEM}.json").read_text())
    assert browser.texts("h1.main-title") == ["MLPerf Inference v4.1"]
    assert browser.texts(".main-title-description") == ["Copyright 2019 - 2025 MLCommons"]
    assert browser.texts(".date-right") == ["August 2024"]
    assert browser.texts("#system-title") == [f"{desc['submitter']} - {desc['system_name']}"]
    assert browser.texts("#license_num_val") == [desc["system_type"]]
    assert browser.texts("#test_date_val") == [desc["division"]]
    assert browser.texts("#sw_avail_val") == ["Available as of August 2024"]
    accelerator = browser.texts("#section-accelerator-details tr")
    assert accelerator[:4] == [f"{k} {desc[k]}" for k in ("accelerator_model_name", "accelerators_per_node",
                                                          "accelerator_memory_capacity",
                                                          "accelerator_host_interconnect")]
    assert f"framework {desc['framework']}" in browser.texts("#section-software-details tr")
    values = published(tree)
    assert len(values) == 14  # 8 benchmarks, Server for all but 3d-unet
    for (model, scenario), (key, value) in values.items():
        row = f'tr[data-model="{"resnet" if model == "resnet50" else model}"]'
        assert browser.texts(f'{row} td.perf[data-scenario="{scenario}"] .value') == [repr(value)], (model, scenario)
        assert browser.texts(f'{row} td.units[data-scenario="{scenario}"]') == [UNITS[key]]
    assert browser.texts('tr[data-model="3d-unet-99"] td.na') == ["N/A"]
    assert browser.texts("tr[data-model] td.model") == ["resnet", "retinanet", "bert-99", "bert-99.9", "3d-unet-99",
                                                        "3d-unet-99.9", "gptj-99", "gptj-99.9"]
    targets = dict(zip(browser.texts("td.model"), browser.texts("td.acc-target")))
    assert targets["resnet"] == "acc: 75.6954" and targets["retinanet"] == "mAP: 37.1745"
    assert targets["bert-99"] == "F1: 89.9653" and targets["3d-unet-99"] == "DICE: 0.8531"
    assert targets["gptj-99"] == "ROUGE1: 42.5566, ROUGE2: 19.9223, ROUGEL: 29.6882, GEN_LEN: 3615190.2"
    assert browser.texts("#notes") == []  # a complete, valid tree has nothing to report
    assert browser.texts("a.button") == ["Result Logs"]  # the tree holds no code, measurements, compliance
    assert hrefs_resolve(browser, page) == []


def test_broken_submission_tree_shows_what_is_missing(browser: Browser, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(reference_tree(), tree)
    intact = published(tree)[("bert-99", "Offline")][1]
    results = tree / "closed" / SUBMITTER / "results" / SYSTEM
    (results / "bert-99" / "Server" / "performance" / "run_1" / "mlperf_log_detail.txt").unlink()
    detail = results / "retinanet" / "Offline" / "performance" / "run_1" / "mlperf_log_detail.txt"
    text = detail.read_text()
    detail.write_text(text[:text.index('"key": "result_validity"')])
    (results / "resnet50" / "Offline" / "accuracy" / "accuracy.txt").unlink()
    systems = tree / "closed" / SUBMITTER / "systems" / f"{SYSTEM}.json"
    desc = json.loads(systems.read_text())
    del desc["cooling"]
    desc["framework"] = ""
    systems.write_text(json.dumps(desc))
    proc = render(tree, None, tmp_path)  # default place: beside the results, as the MLPerf site has it
    assert proc.returncode == 0, proc.stderr
    page = results / "summary.html"
    assert browser.open(page) == []
    browser.screenshot(tmp_path / "broken.png")
    assert "is missing" in browser.texts('tr[data-model="bert-99"] td.missing[data-scenario="Server"]')[0]
    assert "no result_validity" in browser.texts('tr[data-model="retinanet"] td.missing[data-scenario="Offline"]')[0]
    notes = " ".join(browser.texts("#notes li"))
    assert "resnet50/Offline: accuracy/accuracy.txt is missing" in notes
    assert "missing fields: cooling" in notes and "need a value: framework" in notes
    # What is intact still shows the logged values.
    assert browser.texts('tr[data-model="bert-99"] td.perf[data-scenario="Offline"] .value') == [repr(intact)]

    systems.write_text("{ not json")
    assert render(tree, page, tmp_path).returncode == 0
    assert browser.open(page) == []
    assert "cannot be read" in " ".join(browser.texts("#notes li"))


def test_submission_errors(tmp_path: Path) -> None:
    tree = reference_tree()
    proc = run_cli(["report", "--submission-dir", str(tree), "--submitter", "Acme", "--system", SYSTEM,
                    "--out", str(tmp_path / "x.html")], cwd=tmp_path)
    assert proc.returncode == 2
    assert f"closed/{SUBMITTER}/{SYSTEM}" in proc.stderr  # the fix names what the tree has
    proc = run_cli(["report", "--submission-dir", str(tree), "--system", SYSTEM], cwd=tmp_path)
    assert proc.returncode == 2 and "--submitter" in proc.stderr
    assert not (tmp_path / "x.html").exists()
