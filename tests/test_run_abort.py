"""--abort-when-behind: a Server run stops early (exit 4, never published) once it is clearly INVALID,
whether the backlog sits in the SUT or in LoadGen's own schedule (LoadGen issuing late)."""

from __future__ import annotations

import math
from pathlib import Path

from harness.run_checks import server_backlog
from tests.conftest import run_cli, run_records


def test_the_backlog_counts_what_the_schedule_has_due_but_not_issued() -> None:
    assert server_backlog(1000, None, issued=0, completed=0, now_s=5.0) == 0  # LoadGen has not started
    assert server_backlog(1000, 0.0, issued=5000, completed=4900, now_s=5.0) == 100  # on schedule: the SUT's
    # LoadGen itself behind: 2 s at 1000/s due, 500 issued and answered
    assert server_backlog(1000, 0.0, issued=500, completed=500, now_s=2.0) == int(1500 - 4 * math.sqrt(2000))


def test_a_run_on_schedule_is_never_taken_for_one_behind() -> None:
    """Poisson arrivals run ahead of and behind target x time: within four standard deviations, no backlog."""
    for qps, t in ((10, 100.0), (1000, 60.0), (5e6, 2.0)):
        due = qps * t
        lagging = int(due - 3.9 * math.sqrt(due))  # a schedule that happened to come late
        assert server_backlog(qps, 0.0, issued=lagging, completed=lagging, now_s=t) == 0


def test_loadgen_falling_behind_stops_the_run(workdir: Path) -> None:
    """The issue's case at a smaller scale: 1M queries/s is more than LoadGen and a Python SUT can issue, so
    the SUT never holds a backlog; LoadGen's schedule does."""
    results = workdir / "results"
    proc = run_cli(["run", "--model", "resnet50", "--scenario", "server", "--backend", "null", "--demo",
                    "--demo-samples", "16", "--target-qps", "1000000", "--abort-when-behind", "0.25",
                    "--min-duration-ms", "1000", "--results-dir", str(results)], workdir, timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "stopped early, clearly INVALID" in proc.stdout and "not answered" in proc.stdout
    (record,) = run_records(results)
    assert record["status"] == "aborted" and record["result"]["aborted"] and not record["result"]["valid"]
    assert not list(results.glob("*/*/*/performance"))  # never published as performance/run_1
