"""`harness nightly` end to end with the null backend: three ordinary nights, then a slower one (the null
backend's delay_per_batch_ms knob raised). The regression is reported with its size after a re-run the
same night, the exit code is 1, and the page (in headless Chromium) and the plot show it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pagebrowser import Browser, hrefs_resolve, start_browser

from harness.config import configs_dir
from harness.errors import HarnessError
from harness.matrix import load_matrix
from harness.results.history import open_store
from harness.results.history.rows import row_from_record
from harness.results.regression.assess import assess
from harness.results.regression.detect import REGRESSED, Settings
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

MATRIX = """\
box: testbox
system: cpu
detection: {{baseline_runs: 7, min_history: 2, floors_pct: {{headline: 25}}}}  # a loaded test machine
defaults: {{demo: true, min_duration_ms: 0, min_query_count: 4096}}
cells:
  - {{name: slow, model: resnet50, scenario: offline, backend: "null",
      knobs: {{batch_size: 64, delay_per_batch_ms: {delay}}}}}
  - {{name: acc, model: resnet50, scenario: offline, mode: accuracy, backend: "null"}}
"""
NIGHTS = ["2026-03-01", "2026-03-02", "2026-03-03"]
SLOW_NIGHT = "2026-03-04"


def nightly(work: Path, night: str, *extra: str) -> Any:
    return run_cli(["nightly", "--matrix", str(work / "matrix.yaml"), "--results-dir", str(work / "results"),
                    "--night", night, *extra], cwd=work)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("nightly")
    (work / "matrix.yaml").write_text(MATRIX.format(delay=2.0))
    ordinary = [nightly(work, night) for night in NIGHTS]
    (work / "matrix.yaml").write_text(MATRIX.format(delay=10.0))  # every batch now takes 8 ms longer
    slow = nightly(work, SLOW_NIGHT)
    out = work / "results" / "nightly" / SLOW_NIGHT
    return {"work": work, "ordinary": ordinary, "slow": slow, "out": out,
            "summary": json.loads((out / "summary.json").read_text())}


def cell(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in summary["cells"] if c["name"] == name)


def test_ordinary_nights_are_clean(history: dict[str, Any]) -> None:
    for proc in history["ordinary"]:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    last = json.loads((history["work"] / "results" / "nightly" / NIGHTS[-1] / "summary.json").read_text())
    assert last["cells"][1]["verdict"] == "ok"
    assert last["cells"][0]["verdict"] in ("ok", "recovered")  # a stall on a shared machine is re-run
    assert last["previous_night"] == NIGHTS[-2] and last["machine_changes"] == []


def test_the_slower_night_is_a_regression_with_its_size(history: dict[str, Any]) -> None:
    proc, summary = history["slow"], history["summary"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary["exit_code"] == 1 and summary["regressions"] == ["slow"]
    slow = cell(summary, "slow")
    assert slow["verdict"] == REGRESSED and slow["rerun"] is True
    assert [a["attempt"] for a in slow["attempts"]] == [1, 2]
    assert all(a["verdict"] == REGRESSED and a["run_page"] for a in slow["attempts"])
    headline = next(m for m in slow["metrics"] if m["metric"] == "headline")
    assert headline["verdict"] == REGRESSED and headline["history"] == len(NIGHTS)
    # 64 samples per call: 2 ms and the harness's own time per call before, 8 ms more now: the rate is
    # down by up to 80%, less the more time the (loaded) machine adds per call.
    assert -82 < headline["change_pct"] < -40
    assert headline["today"] < headline["low"] < headline["baseline"]
    assert re.search(r"headline -\d\d\.\d% \(baseline [\d.]+, today [\d.]+, band ±[\d.]+%\)", slow["problems"][0])
    assert "knob delay_per_batch_ms 2.0 -> 10.0" in slow["changes"]
    assert "headline -" in proc.stdout
    assert "changed since the baseline: knob delay_per_batch_ms 2.0 -> 10.0" in proc.stdout
    acc = cell(summary, "acc")
    assert acc["verdict"] == "ok" and not acc["rerun"] and acc["correctness"]["verdict"] == "ok"
    # Both attempts are in the store, as runs of that night and cell; the first did not join the baseline.
    store = open_store(None, history["work"] / "results")
    rows = [r for s in store.series() for r in store.series_rows(s) if r.cell == "slow"]
    nights = store.nights_by_id(r.night_id for r in rows if r.night_id is not None)
    tonight = [r for r in rows if r.night_id is not None and nights[r.night_id][0] == SLOW_NIGHT]
    assert sorted(r.attempt or 0 for r in tonight) == [1, 2]
    assert len(rows) == len(NIGHTS) + 2
    store.close()


def test_the_plot_marks_today_and_the_change_point(history: dict[str, Any]) -> None:
    headline = next(m for m in cell(history["summary"], "slow")["metrics"] if m["metric"] == "headline")
    assert [cp["night"] for cp in headline["change_points"]] == [SLOW_NIGHT]
    svg = (history["out"] / headline["plot"]).read_text()
    for gid in ("baseline-band", "baseline", "today-regressed", "change-point-0", "history"):
        assert f'id="{gid}"' in svg, gid
    assert f"today {headline['change_pct']:+.1f}%" in svg  # text stays text in the SVG
    acc_plot = next(m for m in cell(history["summary"], "acc")["metrics"])["plot"]
    assert 'id="today"' in (history["out"] / acc_plot).read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = start_browser()
    yield chromium
    chromium.close()


def test_the_report_page_shows_the_regression(history: dict[str, Any], browser: Browser, tmp_path: Path) -> None:
    page = history["out"] / "index.html"
    assert browser.open(page) == []
    assert hrefs_resolve(browser, page) == []  # the run pages, the plots, summary.json, the results index
    browser.screenshot(tmp_path / "nightly.png")
    assert "1 cell(s) regressed" in browser.texts("#night-verdict")[0]
    item = browser.texts('#regressions li[data-cell="slow"]')[0]
    assert "headline -" in item and "confirmed by a re-run" in item and "delay_per_batch_ms 2.0 -> 10.0" in item
    row = 'tr[data-cell="slow"][data-metric="headline"]'
    change = browser.texts(f"{row} td.change")[0]
    assert change == f"{cell(history['summary'], 'slow')['metrics'][0]['change_pct']:+.1f}%"
    assert browser.texts(f"{row} td.metric-verdict") == ["REGRESSED"]
    assert browser.texts(f"{row} td.cell-verdict .verdict") == ["REGRESSED"]
    assert len(browser.texts(f"{row} a.run-link")) == 2
    assert browser.texts('tr[data-cell="acc"][data-metric="correctness"] td.metric-verdict') == ["OK"]
    widths = browser.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 2 and all(w > 100 for w in widths)
    assert SLOW_NIGHT in browser.texts('figure[data-cell="slow"] .change-point')[0]


def test_a_failing_cell_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "matrix.yaml").write_text(
        "box: failbox\nsystem: cpu\ndefaults: {demo: true}\ncells:\n"
        "  - {name: broken, model: resnet50, scenario: offline, backend: 'null', weights: /no/such/weights.onnx}\n"
        "  - {name: acc, model: resnet50, scenario: offline, mode: accuracy, backend: 'null'}\n")
    proc = nightly(tmp_path, "2026-04-01")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "results" / "nightly" / "2026-04-01" / "summary.json").read_text())
    broken, acc = cell(summary, "broken"), cell(summary, "acc")
    assert broken["verdict"] == "failed" and broken["rerun"]
    assert "weights file /no/such/weights.onnx not found" in broken["problems"][0]
    assert acc["verdict"] == "new" and acc["attempts"][0]["run_page"]


@pytest.mark.parametrize("text, error", [
    ("{model: resnet5, scenario: offline, backend: 'null'}", "unknown model 'resnet5'"),
    ("{model: resnet50, scenario: singlestream, backend: 'null'}", "unknown scenario 'singlestream'"),
    ("{model: resnet50, scenario: offline, backend: 'null', knobs: {batch_sise: 8}}",
     "unknown key 'batch_sise' (did you mean 'batch_size'?)"),
    ("{model: resnet50, scenario: offline, backend: 'null', knobs: {delay_per_batch_ms: fast}}",
     "delay_per_batch_ms must be a number"),
    ("{model: resnet50, scenario: offline, backend: tensorrt, knobs: {delay_per_batch_ms: 1.0}}",
     "unknown key 'delay_per_batch_ms'"),
    ("{model: resnet50, scenario: offline, backend: nul}", "unknown backend 'nul'"),
    ("{model: resnet50, scenario: offline, mode: accurcy}", "unknown mode 'accurcy'"),
])
def test_bad_matrices_are_refused(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"system: cpu\ncells:\n  - {text}\n")
    with pytest.raises(HarnessError, match=re.escape(error)) as info:
        load_matrix(path)
    assert "cells[0]" in str(info.value)


def test_bad_input_exits_2_and_touches_nothing(history: dict[str, Any], tmp_path: Path) -> None:
    work, results = history["work"], history["work"] / "results"
    store = open_store(None, results)
    before, folders = store.count(), sorted(results.glob("*/*/*/runs/*"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: cpu\ncells:\n  - {model: resnet50, scenario: offline, backend: 'null', "
                   "knobs: {batch_sise: 8}}\n")
    proc = run_cli(["nightly", "--matrix", str(bad), "--results-dir", str(results)], cwd=work)
    assert proc.returncode == 2 and "batch_sise" in proc.stderr
    proc = nightly(work, "2026-03-09", "--store", "postgresql://postgres@127.0.0.1:1/none")
    assert proc.returncode == 2 and "cannot be reached" in proc.stderr
    assert store.count() == before and sorted(results.glob("*/*/*/runs/*")) == folders
    assert not (results / "nightly" / "2026-03-09").exists()
    store.close()


def test_a_noisy_series_in_the_store_is_not_flagged(history: dict[str, Any], tmp_path: Path) -> None:
    """Nights whose throughput wanders by about 8% either way, then an ordinary one: no regression."""
    template = history["summary"]["cells"][0]["attempts"][0]["run_dir"]
    record = json.loads((Path(template) / "run.json").read_text())
    store = open_store(None, tmp_path)
    values = [50_000, 54_100, 46_300, 52_800, 47_100, 53_600, 48_200, 51_900, 46_900]
    rows = []
    for i, value in enumerate(values):
        copy = json.loads(json.dumps(record))
        copy.update(run_id=f"night-{i}", started_at=f"2026-05-{i + 1:02d}T02:00:00.000+00:00")
        copy["result"].update(value=float(value), valid=True)
        rows.append(row_from_record(copy, "noisybox"))
    store.add_rows(rows)
    verdict = assess(store, rows[-1], Settings())
    assert verdict.verdict != REGRESSED, verdict.problems
    headline = verdict.metrics[0]
    assert headline.change_pct is not None and headline.change_pct < -5
    assert headline.band_pct is not None and headline.band_pct > 15
    store.close()


@pytest.mark.parametrize("path", sorted((configs_dir() / "nightly").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_matrices_load(path: Path) -> None:
    matrix = load_matrix(path)
    assert matrix.cells
    for c in matrix.cells:
        assert c.scenario != "Server" or c.mode != "performance" or c.target_qps, c.name
    if path.stem != "cpu":
        assert matrix.system == path.stem and {c.backend for c in matrix.cells} >= {"tensorrt"}
