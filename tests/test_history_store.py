"""The history store against SQLite and against a real PostgreSQL server started here: imports of real
(null backend) run folders, re-imports that change nothing, half-written folders, unreachable stores."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.results.history import open_store
from harness.results.history.rows import row_from_record
from harness.results.history.store import database_url
from tests.conftest import run_cli, run_dir_of, run_records
from tests.pgserver import PostgresServer, free_port, start_server


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three real runs of the null backend: Offline, Server and an accuracy run."""
    work = tmp_path_factory.mktemp("history") / "work"
    work.mkdir()
    results = work / "results"
    base = ["run", "--model", "resnet50", "--backend", "null", "--results-dir", str(results)]
    run_cli([*base, "--scenario", "offline", "--min-duration-ms", "0", "--min-query-count", "2048"], cwd=work,
            check=True)
    run_cli([*base, "--scenario", "server", "--target-qps", "1000", "--min-duration-ms", "500",
             "--min-query-count", "500", "--target-latency-ms", "1000"], cwd=work, check=True)
    run_cli([*base, "--scenario", "offline", "--mode", "accuracy"], cwd=work, check=True)
    records = run_records(results)
    return {"work": work, "results": results, "records": records,
            "dirs": [run_dir_of(results, r) for r in records]}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = start_server()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"h{free_port()}")


def test_import_is_idempotent(runs: dict[str, Any], store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    first = store.import_results(runs["results"], "box-a")
    assert len(first.added) == 3 and not first.already and not first.bad
    again = store.import_results(runs["results"], "box-b")  # another box name: still the same runs
    assert not again.added and len(again.already) == 3
    assert store.count() == 3
    offline, server, accuracy = runs["records"]
    rows = {r.mode + r.scenario: r for s in store.series() for r in store.series_rows(s)}
    perf = rows["performanceOffline"]
    assert perf.box == "box-a" and perf.backend == "null" and perf.valid is True
    assert perf.headline == pytest.approx(offline["result"]["value"])
    assert perf.record["run_id"] == offline["run_id"]  # the whole run.json is kept
    assert rows["performanceServer"].p99_latency_ms == pytest.approx(server["latency_ns"]["p99"] / 1e6)
    acc = rows["accuracyOffline"]
    assert acc.accuracy_hash == accuracy["accuracy"]["hash"] and acc.accuracy_metric == "acc"
    assert len(store.series()) == 3
    store.close()


def test_cli_import_names_half_written_folders_and_keeps_the_rest(runs: dict[str, Any], store_url: str,
                                                                 tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(runs["results"], results, ignore=shutil.ignore_patterns("*.sqlite"))
    store = open_store(store_url, tmp_path)
    store.import_folders([results / d.relative_to(runs["results"]) for d in runs["dirs"][:1]], "box")
    before = store.count()
    parent = results / runs["dirs"][0].relative_to(runs["results"]).parent
    cut = parent / "20990101-000000-performance"
    shutil.copytree(runs["dirs"][0], cut)
    text = (cut / "run.json").read_text()
    (cut / "run.json").write_text(text[: len(text) // 2])  # cut off mid-write
    running = parent / "20990101-000001-performance"
    shutil.copytree(runs["dirs"][0], running)
    record = json.loads((running / "run.json").read_text())
    record.update(status="running", run_id=running.name, started_at="2099-01-01T00:00:01.000+00:00")
    (running / "run.json").write_text(json.dumps(record))
    (parent / "20990101-000002-performance").mkdir()  # killed before run.json
    proc = run_cli(["history", "import", str(results), "--store", store_url, "--box", "box"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout
    assert "2 run(s) imported, 1 already stored, 3 skipped" in out
    assert f"skipped {cut}: run.json cannot be read" in out
    assert f"skipped {running}: the run has not finished (status 'running')" in out
    assert "20990101-000002-performance: no run.json" in out
    assert store.count() == before + 2
    again = run_cli(["history", "import", str(results), "--store", store_url], cwd=tmp_path)
    assert "0 run(s) imported, 3 already stored, 3 skipped" in again.stdout and store.count() == before + 2
    listing = run_cli(["history", "series", "--store", store_url], cwd=tmp_path, check=True)
    assert "3 series, 3 runs" in listing.stdout and "resnet50 Server performance" in listing.stdout
    store.close()


def test_a_failing_write_stores_nothing_of_it(runs: dict[str, Any], store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    rows = [row_from_record(r, "box", None) for r in runs["records"]]
    rows[2].record = {"not json": object()}  # cannot be serialized: the transaction fails on the last row
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type differs per database
        store.add_rows(rows)
    assert store.count() == 0
    store.close()


def test_unreachable_store_is_bad_input(runs: dict[str, Any], tmp_path: Path) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/mlperf"
    with pytest.raises(HarnessError, match="cannot be reached"):
        open_store(closed, tmp_path)
    with pytest.raises(HarnessError, match="not a database URL|no driver"):
        open_store("nosuchdb://x/y", tmp_path)
    proc = run_cli(["history", "import", str(runs["results"]), "--store", closed], cwd=tmp_path)
    assert proc.returncode == 2 and "cannot be reached" in proc.stderr and "fix:" in proc.stderr
    assert database_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve() / 'history.sqlite'}"
    assert database_url("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"


def test_a_compliance_run_is_a_series_of_its_own(runs: dict[str, Any]) -> None:
    (offline,) = [r for r in runs["records"] if r["scenario"] == "Offline" and r["mode"] == "performance"]
    ordinary = row_from_record(offline, "box")
    audited = row_from_record({**offline, "run_id": offline["run_id"] + "-TEST04", "compliance": "TEST04"}, "box")
    assert ordinary.mode == "performance" and audited.mode == "TEST04" and audited.series != ordinary.series
