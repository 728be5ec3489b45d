"""`python -m harness bench-overhead`: the harness's own cost per sample, against a bare LoadGen SUT.

Side by side in one sitting, at the same LoadGen settings, each test in its own process:
  (a) bare: ConstructFastSUT, immediate batched completion (harness.tools.bare_sut);
  (b) harness: `python -m harness run --backend null` (the real Offline / Server SUTs, batcher and
      response packing, with the ResNet50 QSL loaded into memory).
Offline: samples/s for a fixed number of samples. Server: the highest VALID target QPS at the 15 ms p99
bound, found by a short search. Prints the ratio harness / bare for each.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.machine.host import detect_host
from harness.tools.child import child_env
from harness.tools.search import Probe, SearchResult, find_highest_valid


def run_bare(scenario: str, qps: float, duration_ms: int, queries: int, outdir: Path, coalesce: bool) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.tools.bare_sut", scenario, str(qps), str(duration_ms), str(queries),
         str(outdir), "1" if coalesce else "0"],
        capture_output=True, text=True, env=child_env(), cwd=outdir.parent, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bare SUT failed:\n{proc.stdout}\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_harness(scenario: str, qps: float, duration_ms: int, queries: int, outdir: Path,
                extra: list[str]) -> dict[str, Any]:
    args = [sys.executable, "-m", "harness", "run", "--model", "resnet50", "--scenario", scenario,
            "--backend", "null", "--system", "cpu", "--demo", "--demo-samples", "1024", "--target-qps", str(qps),
            "--min-duration-ms", str(duration_ms), "--min-query-count", str(queries),
            "--results-dir", str(outdir), *extra]
    proc = subprocess.run(args, capture_output=True, text=True, env=child_env(), cwd=outdir.parent, check=False)
    records = sorted(outdir.glob("*/*/*/runs/*/run.json"))
    if proc.returncode != 0 or not records:
        raise RuntimeError(f"harness run failed:\n{proc.stdout}\n{proc.stderr}")
    record = json.loads(records[-1].read_text())
    p99 = record["latency_ns"].get("p99")
    return {"valid": record["result"]["valid"], "value": record["result"]["value"], "unit": record["result"]["unit"],
            "p99_ns": p99, "explanation": record["result"].get("explanation", [])}


def _probe(kind: str, qps: float, args: argparse.Namespace, work: Path, n: int) -> Probe:
    outdir = work / f"{kind}-server-{n}"
    if kind == "bare":
        res = run_bare("Server", qps, args.server_duration_ms, 100, outdir, args.coalesce)
    else:
        coalesce = ["--set", f"server_coalesce_queries={'true' if args.coalesce else 'false'}"]
        res = run_harness("Server", qps, args.server_duration_ms, 100, outdir, coalesce + args.harness_args)
    p99 = res.get("p99_ns")
    probe = Probe(qps, bool(res["valid"]), res.get("value"), p99 / 1e6 if p99 else None)
    status = "VALID" if probe.valid else "INVALID"
    print(f"  {kind:7s} Server target {qps:>10,.0f}: {status:7s} p99 {probe.p99_ms or 0:7.2f} ms", flush=True)
    return probe


def search_server(kind: str, args: argparse.Namespace, work: Path) -> SearchResult:
    counter = iter(range(1000))
    return find_highest_valid(lambda qps: _probe(kind, qps, args, work, next(counter)), args.server_start_qps,
                              args.max_probes, tolerance=0.08)


def offline(kind: str, args: argparse.Namespace, work: Path, attempt: int = 0) -> dict[str, Any]:
    outdir = work / f"{kind}-offline-{attempt}"
    if kind == "bare":
        res = run_bare("Offline", 1000, 0, args.offline_samples, outdir, False)
    else:
        res = run_harness("Offline", 1000, 0, args.offline_samples, outdir, args.harness_args)
    print(f"  {kind:7s} Offline {args.offline_samples:,} samples: {res['value']:,.0f} samples/s", flush=True)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness bench-overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offline-samples", type=int, default=4_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="Offline runs of each kind (best counts)")
    parser.add_argument("--server-start-qps", type=float, default=40_000)
    parser.add_argument("--server-duration-ms", type=int, default=10_000)
    parser.add_argument("--max-probes", type=int, default=7)
    parser.add_argument("--coalesce", action=argparse.BooleanOptionalAction, default=True,
                        help="LoadGen's server_coalesce_queries for both SUTs (default on)")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("harness_args", nargs="*", help="extra `harness run` arguments (after --)")
    args = parser.parse_args(argv)
    host = detect_host()
    from importlib import metadata

    header = (f"CPU: {host.cpu_model} ({host.cpu_count} logical cores), Python {platform.python_version()}, "
              f"mlcommons-loadgen {metadata.version('mlcommons-loadgen')}")
    print(header, flush=True)
    summary: dict[str, Any] = {"host": header}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        work = Path(tmp)
        if not args.skip_offline:
            # Interleaved repeats, best of each: the least disturbed run of each kind on a shared machine.
            bare_runs, our_runs = [], []
            for attempt in range(args.repeats):
                bare_runs.append(offline("bare", args, work, attempt)["value"])
                our_runs.append(offline("harness", args, work, attempt)["value"])
            summary["offline"] = {"bare": max(bare_runs), "harness": max(our_runs),
                                  "ratio": max(our_runs) / max(bare_runs), "bare_runs": bare_runs,
                                  "harness_runs": our_runs}
        if not args.skip_server:
            bare_s, ours_s = search_server("bare", args, work), search_server("harness", args, work)
            b, h = bare_s.best, ours_s.best
            summary["server"] = {"bare": b.qps if b else None, "harness": h.qps if h else None,
                                 "ratio": (h.qps / b.qps) if b and h else None,
                                 "bare_probes": [p.__dict__ for p in bare_s.probes],
                                 "harness_probes": [p.__dict__ for p in ours_s.probes]}
    print()
    print(header)
    print(f"{'scenario':9s} {'bare SUT':>16s} {'harness (null)':>16s} {'ratio':>7s}")
    if "offline" in summary:
        o = summary["offline"]
        print(f"{'Offline':9s} {o['bare']:>16,.0f} {o['harness']:>16,.0f} {o['ratio']:>7.2f}   samples/s, "
              f"best of {args.repeats}")
    if "server" in summary:
        s = summary["server"]
        fmt = lambda v: f"{v:>16,.0f}" if v else f"{'none VALID':>16s}"  # noqa: E731
        ratio = f"{s['ratio']:>7.2f}" if s["ratio"] else f"{'-':>7s}"
        print(f"{'Server':9s} {fmt(s['bare'])} {fmt(s['harness'])} {ratio}   highest VALID target QPS, "
              "p99 <= 15 ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
