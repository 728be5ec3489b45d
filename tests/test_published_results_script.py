"""scripts/published_results.py on Dell's shipped v4.1 R760 tree (it has the inference_results layout)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_pages_submission import SUBMITTER, SYSTEM, reference_tree

from harness.results.published import COLUMNS, default_path, load_published
from scripts import published_results

# Dell's published v4.1 figures for the R760 (2x H100-PCIe), as MLCommons' results table lists them.
DELL_PUBLISHED = {("resnet50", "Offline"): ("samples/s", 112968.0), ("resnet50", "Server"): ("queries/s", 103012.18),
                  ("retinanet", "Offline"): ("samples/s", 2314.75), ("bert-99", "Server"): ("queries/s", 9145.69),
                  ("3d-unet-99", "Offline"): ("samples/s", 9.31163), ("gptj-99", "Offline"): ("tokens/s", 3317.08),
                  ("gptj-99", "Server"): ("tokens/s", 2759.33)}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the Dell tree named like a clone (the round is read off the folder name)."""
    copy = tmp_path / "inference_results_v4.1"
    shutil.copytree(reference_tree(), copy)
    return copy


def test_the_dell_tree_regenerates_its_published_rows(tree: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "published.csv"
    assert published_results.main([str(tree), "--csv", str(out)]) == 0
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    rows = {(r.model, r.scenario): r for r in load_published(out)}
    assert len(rows) == 14  # five benchmarks, 99 and 99.9, both scenarios (3D-UNet Offline only)
    assert {r.system for r in rows.values()} == {SYSTEM} and {r.accelerators for r in rows.values()} == {2}
    for key, (metric, value) in DELL_PUBLISHED.items():
        assert (rows[key].metric, rows[key].value) == (metric, value), key
    gptj = rows[("gptj-99", "Offline")]
    assert gptj.note == "inferred; 48.0736 samples/s" and gptj.value_text == "3317.08"
    assert rows[("resnet50", "Server")].note == "completed samples/s"
    for row in rows.values():
        assert row.source == (f"mlcommons/inference_results_v4.1:closed/{SUBMITTER}/results/{SYSTEM}/{row.model}/"
                              f"{row.scenario}/performance/run_1/mlperf_log_summary.txt")
        assert (tree / row.source.split(":", 1)[1]).is_file()
    assert "14 new" in capsys.readouterr().out


def test_the_shipped_csv_agrees_with_the_dell_tree(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = default_path().read_bytes()
    assert published_results.main([str(tree), "--check"]) == 0, capsys.readouterr().out
    assert default_path().read_bytes() == before


def test_a_changed_number_is_listed_and_other_rows_are_kept(tree: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "published.csv"
    text = default_path().read_text()
    assert ",bert-99,Offline,samples/s,11758.6," in text
    out.write_text(text.replace(",bert-99,Offline,samples/s,11758.6,", ",bert-99,Offline,samples/s,11000,"))
    assert published_results.main([str(tree), "--csv", str(out), "--check"]) == 1
    assert published_results.main([str(tree), "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"changed: v4.1/Dell/{SYSTEM}/bert-99/Offline: 11000 samples/s x2 -> 11758.6 samples/s x2" in printed
    before, after = text.splitlines(), out.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(before) == len(after) and len(changed) == 1  # the rest, other systems' rows included, as it was
    assert changed[0][1].startswith(f"v4.1,Dell,{SYSTEM},NVIDIA H100-PCIe-80GB,2,bert-99,Offline,samples/s,11758.6,,"
                                    "mlcommons/inference_results_v4.1:closed/Dell/")


def test_invalid_results_and_other_gpus_are_left_out(tree: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    summary = tree / f"closed/{SUBMITTER}/results/{SYSTEM}/resnet50/Offline/performance/run_1/mlperf_log_summary.txt"
    summary.write_text(summary.read_text().replace("Result is : VALID", "Result is : INVALID"))
    out = tmp_path / "published.csv"
    assert published_results.main([str(tree), "--csv", str(out)]) == 0
    assert ("resnet50", "Offline") not in {(r.model, r.scenario) for r in load_published(out)}
    assert "resnet50/Offline/performance/run_1/mlperf_log_summary.txt: result is INVALID; skipped" in \
        capsys.readouterr().err
    assert published_results.main([str(tree), "--csv", str(out), "--accelerator", "NVIDIA L40S"]) == 2
    assert "no results for NVIDIA L40S" in capsys.readouterr().err


def test_bad_trees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert published_results.main([str(tmp_path)]) == 2
    assert "has no closed/ folder" in capsys.readouterr().err
    (tmp_path / "closed").mkdir()
    assert published_results.main([str(tmp_path)]) == 2
    assert "pass --round v4.1" in capsys.readouterr().err
    assert published_results.main([str(tmp_path), "--round", "4.1"]) == 2
    assert "must look like v4.1" in capsys.readouterr().err
