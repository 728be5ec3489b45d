"""The published-results file: its coverage and provenance, the per-GPU reference, and malformed files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.results.published import (
    COLUMNS,
    Published,
    candidates,
    load_published,
    published_per_gpu,
    reference,
    round_key,
    rounds,
)

GPUS = ("NVIDIA H100-SXM-80GB", "NVIDIA H200-SXM-141GB", "NVIDIA H100-PCIe-80GB", "NVIDIA H100-NVL-94GB",
        "NVIDIA L40S", "NVIDIA A100-SXM-80GB")
BENCHMARKS = ("resnet50", "retinanet", "bert-99", "bert-99.9", "3d-unet-99", "3d-unet-99.9", "gptj-99", "gptj-99.9")
# GPT-J arrived in v3.1, after NVIDIA's last A100 round (v3.0); no A100 result of v4.0 or v4.1 is known.
KNOWN_GAPS = {("NVIDIA A100-SXM-80GB", "gptj-99"), ("NVIDIA A100-SXM-80GB", "gptj-99.9")}
SOURCE = re.compile(r"^mlcommons/inference_results_(v\d+\.\d+)@[0-9a-f]{12}:closed/([^/]+)/results/([^/]+)/([^/]+)/"
                    r"(Offline|Server)/performance/run_1/mlperf_log_summary\.txt$")


def test_every_gpu_has_every_benchmark_and_scenario() -> None:
    rows = load_published()
    for gpu in GPUS:
        for benchmark in BENCHMARKS:
            for scenario in ("Offline",) if benchmark.startswith("3d-unet") else ("Offline", "Server"):
                if (gpu, benchmark) in KNOWN_GAPS:
                    continue
                assert candidates(rows, gpu, benchmark, scenario), (gpu, benchmark, scenario)
    assert not [r for r in rows if r.model.startswith("3d-unet") and r.scenario == "Server"]


def test_every_row_names_the_summary_it_came_from() -> None:
    for row in load_published():
        match = SOURCE.match(row.source)
        assert match, row
        assert match.groups() == (row.round, row.submitter, row.system, row.model, row.scenario), row


def test_units_follow_the_rounds() -> None:
    rows = load_published()
    for row in rows:
        if row.scenario == "Offline":
            assert row.metric in ("samples/s", "tokens/s"), row
        else:
            assert row.metric in ("queries/s", "tokens/s"), row
        if row.metric == "tokens/s":  # LoadGen's inferred tokens: samples x 69
            assert row.model.startswith("gptj") and row.round == "v4.1", row
            samples = float(re.search(r"([\d.]+) samples/s", row.note).group(1))  # type: ignore[union-attr]
            assert row.value == pytest.approx(samples * 69, rel=2e-3), row
        if row.scenario == "Server" and round_key(row.round) < (4, 1) and row.metric != "tokens/s":
            assert "scheduled samples/s" in row.note, row  # before v4.1 the Server headline was scheduled


def _row(accelerators: int, value: float, round_name: str = "v4.1", system: str = "S") -> Published:
    return Published(round_name, system, "NVIDIA L40S", accelerators, value, "samples/s", "Org", "resnet50",
                     "Offline")


def test_reference_is_the_closest_count_then_the_newest_round_then_the_best_per_gpu() -> None:
    rows = [_row(1, 900, "v4.0", "old"), _row(2, 2000, system="two"), _row(2, 2100, system="better"),
            _row(8, 9000, system="eight")]
    assert reference(rows, 1).system == "old"  # type: ignore[union-attr]
    assert reference(rows, 2).system == "better"  # type: ignore[union-attr]
    assert reference(rows, 3).system == "better"  # type: ignore[union-attr]
    assert reference(rows, 7).system == "eight"  # type: ignore[union-attr]
    assert reference([], 1) is None


def test_published_per_gpu_reads_the_shipped_file() -> None:
    dell = published_per_gpu("NVIDIA H100-PCIe-80GB", "gptj-99", "Offline", gpu_count=2, round_name="v4.1")
    assert dell is not None and dell.metric == "tokens/s"
    h100 = published_per_gpu("nvidia h100-sxm-80gb", "bert-99", "Offline", gpu_count=1)
    assert h100 is not None and (h100.round, h100.system, h100.value) == ("v4.0", "DGX-H100_H100-SXM-80GBx1_TRT",
                                                                          9081.51)
    assert rounds(load_published()) == ["v4.1", "v4.0", "v3.0"]


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([",".join(COLUMNS), *lines]) + "\n")
    return path


GOOD = "v4.1,Dell,R760,NVIDIA H100-PCIe-80GB,2,resnet50,Offline,samples/s,112968,,x"


@pytest.mark.parametrize("line, message", [
    ("v4.1,Dell,R760,NVIDIA H100-PCIe-80GB,two,resnet50,Offline,samples/s,112968,,x", "accelerators must be"),
    ("v4.1,Dell,R760,NVIDIA H100-PCIe-80GB,2,resnet50,Offline,samples/s,fast,,x", "value must be a positive"),
    ("v4.1,Dell,R760,NVIDIA H100-PCIe-80GB,2,resnet50,Offline,samples/s,-3,,x", "value must be a positive"),
    ("4.1,Dell,R760,NVIDIA H100-PCIe-80GB,2,resnet50,Offline,samples/s,112968,,x", "round must look like"),
    ("v4.1,Dell,R760,NVIDIA H100-PCIe-80GB,2,resnet50,offline,samples/s,112968,,x", "unknown scenario"),
    ("v4.1,Dell,,NVIDIA H100-PCIe-80GB,2,resnet50,Offline,samples/s,112968,,x", "the system field is empty"),
    ("v4.1,Dell,R760,NVIDIA H100-PCIe-80GB,2,resnet50,Offline,samples/s,112968,,x,extra", "more fields"),
])
def test_a_malformed_row_names_its_line_and_the_fix(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "p.csv", GOOD, line)
    with pytest.raises(HarnessError) as caught:
        load_published(path)
    assert f"{path}:3:" in caught.value.message and message in caught.value.message
    assert "scripts/published_results.py" in (caught.value.fix or "")


def test_a_missing_column_or_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("round,system,value\nv4.1,R760,1\n")
    with pytest.raises(HarnessError, match="lacks column"):
        load_published(path)
    with pytest.raises(HarnessError, match="not found"):
        load_published(tmp_path / "absent.csv")
    assert published_per_gpu("NVIDIA L40S", "resnet50", "Offline", path=tmp_path / "absent.csv") is None


def test_files_without_the_source_column_still_read(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(",".join(COLUMNS[:-1]) + "\n" + GOOD.rsplit(",", 1)[0] + "\n")
    (row,) = load_published(path)
    assert row.source == "" and row.per_accelerator == 112968 / 2 and row.value_text == "112968"


# Figures quoted in the project's reference notes (shared/reference: nvidia-harness.md, peers-2026-12.md,
# mlperf-rules.md), read there off the same v4.1 summaries, and MLCommons' results tables.
CROSS_CHECKS = [
    ("Supermicro", "SYS_821GE_TNHR_H100_SXM_80GBx8_TRT", "resnet50", "Offline", 707052),
    ("Supermicro", "SYS_821GE_TNHR_H100_SXM_80GBx8_TRT", "resnet50", "Server", 634193.10),
    ("Supermicro", "SYS_821GE_TNHR_H100_SXM_80GBx8_TRT", "retinanet", "Server", 13803.03),
    ("Supermicro", "SYS_821GE_TNHR_H100_SXM_80GBx8_TRT", "bert-99", "Offline", 71806.2),
    ("Supermicro", "SYS_821GE_TNHR_H100_SXM_80GBx8_TRT", "3d-unet-99", "Offline", 52.2038),
    ("Supermicro", "SYS_821GE_TNHR_H100_SXM_80GBx8_TRT", "gptj-99", "Offline", 287.009 * 69),
    ("NVIDIA", "H200-SXM-141GBx8_TRT", "resnet50", "Offline", 756960),
    ("NVIDIA", "H200-SXM-141GBx1_TRT", "gptj-99", "Server", 2406),
    ("Fujitsu", "GX2560M7_H100_SXM_80GBx4_TRT", "gptj-99", "Offline", 2490 * 4),
    ("Dell", "R760xa_H100NVL_PCIe_94GBx4_TRT", "gptj-99", "Server", 1584 * 4),
    ("Cisco", "C245M8_H100_PCIe_80GBx2_TRT", "gptj-99", "Offline", 1634 * 2),
    ("Fujitsu", "CDI_L40Sx8_TRT", "gptj-99", "Server", 863 * 8),
    ("Lenovo", "SR650_V3_3xL40S_TRT", "resnet50", "Server", 132008.16),
]


@pytest.mark.parametrize("submitter, system, model, scenario, value", CROSS_CHECKS)
def test_rows_agree_with_figures_published_elsewhere(submitter: str, system: str, model: str, scenario: str,
                                                     value: float) -> None:
    (row,) = [r for r in load_published() if (r.submitter, r.system, r.model, r.scenario) ==
              (submitter, system, model, scenario)]
    assert row.round == "v4.1" and row.value == pytest.approx(value, rel=1e-3)
