"""How fast this run's own SUT goes under LoadGen, measured with two short Offline tests.

A backend that does not consume its inputs (the null backend) is far faster than any configured expected
QPS, and what limits it is the harness and LoadGen themselves, which a warm-up pass of the program does
not see. An Offline run whose query is sized below the real rate ends before its minimum duration and is
INVALID, so such runs are sized from this measurement (harness.run._plan), as demo runs are from the
warm-up's. The tests use TestSettings set directly (never FromConfig, which may run once per process)
and log into a temporary folder that is then removed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import mlperf_loadgen as lg

from harness.loadgen_settings import log_settings
from harness.qsl import SampleStore
from harness.results.logparse import parse_detail_log
from harness.scenarios import sut_for_programs
from models.program import Program

FIRST_SAMPLES = 20_000
# The second test lasts about this long at the first test's rate (a longer query amortizes fixed costs).
SECOND_S = 0.4
MAX_SAMPLES = 5_000_000


def offline_rate(model_name: str, programs: Sequence[Program], samples: SampleStore, batch_size: int,
                 performance_count: int) -> float | None:
    """Samples/s of an Offline query through these programs' SUT under LoadGen (None: no measurement)."""
    rate = _one_test(model_name, programs, samples, batch_size, performance_count, FIRST_SAMPLES)
    if rate is None:
        return None
    count = int(min(max(rate * SECOND_S, FIRST_SAMPLES), MAX_SAMPLES))
    return _one_test(model_name, programs, samples, batch_size, performance_count, count)


def _one_test(model_name: str, programs: Sequence[Program], samples: SampleStore, batch_size: int,
              performance_count: int, count: int) -> float | None:
    sut, completer = sut_for_programs("Offline", programs, samples, model_name, batch_size, 0)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Offline
    settings.mode = lg.TestMode.PerformanceOnly
    settings.offline_expected_qps = float(count)
    settings.min_duration_ms = 0
    settings.min_query_count = count
    total = samples.total_count
    settings.performance_sample_count_override = min(performance_count, total)
    sut_handle = lg.ConstructFastSUT(sut.issue, sut.flush)
    qsl_handle = lg.ConstructQSL(total, min(performance_count, total), samples.load, samples.unload)
    try:
        with tempfile.TemporaryDirectory(prefix="harness-calibrate-") as tmp:
            lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings, log_settings(Path(tmp), "performance"),
                                        str(Path(tmp) / "audit.config"))
            log = parse_detail_log(Path(tmp) / "mlperf_log_detail.txt")
    finally:
        sut.stop()
        lg.DestroyQSL(qsl_handle)
        lg.DestroyFastSUT(sut_handle)
    if completer.error is not None:
        return None
    rate = log.get("result_samples_per_second")
    return float(rate) if isinstance(rate, (int, float)) and rate > 0 else None
