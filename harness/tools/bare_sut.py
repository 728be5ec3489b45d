"""The fastest LoadGen SUT the Python API allows: the yardstick for the harness's own overhead.

ConstructFastSUT, every query completed at once inside the issue callback, with QuerySampleResponse
objects built once and only their ids set per call (one preallocated response buffer), Offline
completions batched 4096 samples per QuerySamplesComplete call. Run as
`python -m harness.tools.bare_sut <scenario> <target_qps> <min_duration_ms> <min_query_count> <outdir>`
(one LoadGen test per process). Prints the detail-log results as JSON.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np

from harness.loadgen_settings import LoadGenPlan, log_settings, make_test_settings, user_conf_text
from harness.results.explain import judge_performance
from harness.results.logparse import latency_summary_ns, parse_detail_log
from harness.rules import load_rules

RESPONSE_BYTES = 4
COMPLETE_CHUNK = 4096


def run_bare(scenario: str, target_qps: float, min_duration_ms: int, min_query_count: int, outdir: Path,
             coalesce: bool, sample_count: int = 1024) -> dict[str, object]:
    rules = load_rules()
    plan = LoadGenPlan("resnet50", scenario, "performance", target_qps, dict(rules.seeds), min_duration_ms,
                       min_query_count, None, None, "custom", coalesce)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "user.conf").write_text(user_conf_text(plan))
    settings = make_test_settings(plan, outdir / "user.conf")
    buffer = np.zeros(COMPLETE_CHUNK * RESPONSE_BYTES, dtype=np.uint8)
    base = buffer.__array_interface__["data"][0]
    pool = [lg.QuerySampleResponse(0, base + k * RESPONSE_BYTES, RESPONSE_BYTES) for k in range(COMPLETE_CHUNK)]
    complete = lg.QuerySamplesComplete
    set_id = lg.QuerySampleResponse.id.fset

    def issue(ids: list[int], indices: list[int]) -> None:
        for start in range(0, len(ids), COMPLETE_CHUNK):
            chunk = ids[start:start + COMPLETE_CHUNK]
            deque(map(set_id, pool, chunk), maxlen=0)
            complete(pool[:len(chunk)])

    sut = lg.ConstructFastSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(sample_count, sample_count, lambda indices: None, lambda indices: None)
    lg.StartTestWithLogSettings(sut, qsl, settings, log_settings(outdir, "performance"),
                                str(outdir / "audit.config"))
    lg.DestroyQSL(qsl)
    lg.DestroyFastSUT(sut)
    log = parse_detail_log(outdir / "mlperf_log_detail.txt")
    verdict = judge_performance(log, scenario)
    return {"valid": verdict.valid, "value": verdict.value, "unit": verdict.unit,
            "p99_ns": latency_summary_ns(log).get("p99"), "explanation": [str(f) for f in verdict.failures]}


if __name__ == "__main__":
    scenario, qps, duration, queries, out = sys.argv[1:6]
    coalesce_flag = len(sys.argv) > 6 and sys.argv[6] == "1"
    result = run_bare(scenario, float(qps), int(duration), int(queries), Path(out), coalesce_flag)
    print(json.dumps(result))
