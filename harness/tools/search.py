"""`python -m harness search`: the highest Server target QPS that stays VALID, or the Offline expected QPS.

Each probe is a short real run (`python -m harness run ...` in its own process). Server: grow the target
while VALID, then bisect between the last VALID and the first INVALID target on LoadGen's verdict (p99
against the bound); a probe that falls clearly behind stops early. Offline: a run at the configured
expected QPS measures samples/s, and a second run at that rate confirms it. The curve walked is printed;
--write stores the result as a by-backend override in configs/systems/searched/<system>.yaml.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from harness.config import configs_dir
from harness.errors import HarnessError
from harness.tools.args import add_run_arguments, run_arguments_of, spec_from_args
from harness.tools.child import run_child


@dataclass
class Probe:
    qps: float
    valid: bool
    value: float | None = None
    p99_ms: float | None = None
    note: str = ""
    run_id: str = ""


@dataclass
class SearchResult:
    probes: list[Probe] = field(default_factory=list)

    @property
    def best(self) -> Probe | None:
        valid = [p for p in self.probes if p.valid]
        return max(valid, key=lambda p: p.qps) if valid else None


def find_highest_valid(probe: Callable[[float], Probe], start_qps: float, max_probes: int = 8,
                       tolerance: float = 0.03, grow: float = 1.5, retry_invalid: bool = True) -> SearchResult:
    """Grow x``grow`` while VALID (shrink while INVALID), then bisect until hi/lo < 1 + tolerance.

    On a shared machine one stall can fail a probe far below the real limit, and the search would
    never climb back: an INVALID probe is repeated once (within max_probes) and counts as VALID only
    if the repeat passes, flagged so in its note.
    """
    result = SearchResult()
    low: float | None = None
    high: float | None = None
    qps = start_qps
    while len(result.probes) < max_probes:
        p = probe(qps)
        result.probes.append(p)
        if not p.valid and retry_invalid and len(result.probes) < max_probes:
            again = probe(qps)
            result.probes.append(again)
            if again.valid:
                again.note = ("VALID on a repeat after an INVALID probe: noisy machine? " + again.note).strip()
                p = again
        if p.valid:
            low = qps if low is None else max(low, qps)
        else:
            high = qps if high is None else min(high, qps)
        if high is None:
            qps *= grow
        elif low is None:
            qps /= grow
        elif high / low < 1 + tolerance:
            break
        else:
            qps = (low + high) / 2
    return result


def find_offline_rate(probe: Callable[[float], Probe], start_qps: float, max_probes: int = 4,
                      overshoot: float = 1.05) -> SearchResult:
    """Offline: run at the expected QPS; while a run finishes before its minimum duration (INVALID, faster
    than expected), run again expecting ``overshoot`` x the rate it measured. A bigger query runs faster
    (fixed costs spread thinner), hence the loop. The answer is the rate of the first VALID run."""
    result = SearchResult()
    qps = start_qps
    while len(result.probes) < max_probes:
        p = probe(qps)
        result.probes.append(p)
        if p.valid or not p.value:
            break
        qps = max(p.value * overshoot, qps * overshoot)
    return result


def run_probe(run_args: list[str], qps: float, results_dir: Path, extra: list[str]) -> tuple[Probe, dict[str, Any]]:
    """One short `harness run` at ``qps``; its run record decides VALID."""
    child = run_child([*run_args, "--target-qps", f"{qps:.6g}", *extra], results_dir)
    if child.returncode not in (0, 4) or child.record is None:
        raise HarnessError(f"probe at {qps:,.0f} QPS failed (exit {child.returncode}):\n{child.tail()}")
    record = child.record
    result = record.get("result") or {}
    p99 = (record.get("latency_ns") or {}).get("p99")
    note = "stopped early (clearly behind)" if result.get("aborted") else "; ".join(result.get("explanation", []))
    probe = Probe(qps, bool(result.get("valid")), result.get("value"), p99 / 1e6 if p99 else None, note,
                  record["run_id"])
    return probe, record


def _print_probe(p: Probe, unit: str) -> None:
    p99 = f"{p.p99_ms:9.2f}" if p.p99_ms is not None else f"{'-':>9s}"
    value = f"{p.value:>12,.1f}" if p.value is not None else f"{'-':>12s}"
    print(f"  {p.qps:>12,.1f} {p99} {value} {unit:9s} {'VALID' if p.valid else 'INVALID':8s} {p.note[:90]}",
          flush=True)


def write_override(system: str, model: str, scenario: str, backend: str, knobs: dict[str, Any],
                   provenance: dict[str, Any]) -> Path:
    """Merge one result into configs/systems/searched/<system>.yaml (the shipped file stays untouched)."""
    path = configs_dir() / "systems" / "searched" / f"{system}.yaml"
    data: dict[str, Any] = {}
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {}
    entry = data.setdefault(model, {}).setdefault(scenario, {}).setdefault(backend, {})
    entry.setdefault("knobs", {}).update(knobs)
    entry["found"] = provenance
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Written by `python -m harness search --write`: per-backend knobs found on this machine.\n"
              f"# They override configs/systems/{system}.yaml; delete an entry to go back to it.\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=True))
    tmp.replace(path)
    return path


# Run flags the search sets per probe itself.
_PROBE_FLAGS = ("--target-qps", "--min-duration-ms", "--abort-when-behind", "--mode", "--strict")


def _resolve_start(args: argparse.Namespace) -> tuple[str, str, str, str, float]:
    """(system, backend, model, scenario, configured target) as `harness run` would resolve them."""
    from harness.resolve import resolve

    r = resolve(spec_from_args(args))
    return r.system.name, r.backend_name, r.model.name, r.spec.scenario, r.target_qps


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.set_defaults(results_dir=Path("results/search"))
    p.add_argument("--start-qps", type=float, help="first target (default: the system config's)")
    p.add_argument("--probe-duration-ms", type=int, default=10000, help="minimum duration of each probe")
    p.add_argument("--max-probes", type=int, default=8)
    p.add_argument("--tolerance", type=float, default=0.03, help="stop when the bracket is this tight")
    p.add_argument("--behind-s", type=float, default=2.0,
                   help="Server: stop a probe once its backlog exceeds this many seconds of work")
    p.add_argument("--write", action="store_true", help="store the result in configs/systems/searched/")
    return p


def _search(scenario: str, probe: Callable[[float], Probe], start: float, args: argparse.Namespace) -> SearchResult:
    if scenario == "Server":
        return find_highest_valid(probe, start, args.max_probes, args.tolerance)
    return find_offline_rate(probe, start, args.max_probes)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    system, backend, model, scenario, configured = _resolve_start(args)
    start = args.start_qps or configured
    run_args = run_arguments_of(args, skip=_PROBE_FLAGS)
    extra = ["--min-duration-ms", str(args.probe_duration_ms)]
    if scenario == "Server":
        extra += ["--abort-when-behind", str(args.behind_s)]
    unit = "queries/s" if scenario == "Server" else "samples/s"
    print(f"== search {model} {scenario} on {system} with {backend}, from {start:,.1f} QPS "
          f"({args.probe_duration_ms / 1000:g} s probes)")
    print(f"  {'target':>12s} {'p99 ms':>9s} {'achieved':>12s}")

    def probe(qps: float) -> Probe:
        result, _ = run_probe(run_args, qps, args.results_dir, extra)
        _print_probe(result, unit)
        return result

    search = _search(scenario, probe, start, args)
    knob = "server_target_qps" if scenario == "Server" else "offline_expected_qps"
    best = search.best
    if best is None:
        hint = ("lower --start-qps" if scenario == "Server" else "raise --probe-duration-ms or --max-probes")
        print(f"== no VALID probe: {hint} (tried {', '.join(f'{p.qps:,.1f}' for p in search.probes)})")
        return 3
    if scenario == "Server":
        found = best.qps
        print(f"== highest VALID {knob}: {found:,.1f} (run {best.run_id}); leave some margin for 10-minute runs")
    else:
        found = best.value or best.qps
        print(f"== {knob}: {found:,.1f}, the rate of the VALID run {best.run_id} at {best.qps:,.1f} expected")
    if args.write:
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        path = write_override(system, model, scenario, backend, {knob: round(found, 1)},
                              {"at": when, "probe_duration_ms": args.probe_duration_ms,
                               "probes": [asdict(p) for p in search.probes]})
        print(f"== written to {path}")
    return 0
