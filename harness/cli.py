"""Command line: `python -m harness <command> ...`. Every command is one entry of COMMANDS; its module's
function takes the remaining arguments and returns the exit code."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from harness.errors import HarnessError
from harness.options import closest

# name -> ("module:function", one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.tools.run:main", "run one model x scenario under LoadGen"),
    "run_harness": ("harness.tools.run:run_harness",
                    "NVIDIA-style flags: --benchmarks=... --scenarios=... --test_mode=... (a process per run)"),
    "engines": ("harness.tools.engines:main", "build the TensorRT engines for a model ahead of time"),
    "generate_engines": ("harness.tools.engines:generate_engines", "NVIDIA-style flags: --benchmarks=... "
                                                                   "--scenarios=..."),
    "search": ("harness.tools.search:main", "highest VALID Server target QPS / Offline expected QPS (short probes)"),
    "bench-gpu": ("harness.tools.bench_gpu:main", "60-s Offline + Server runs vs the published per-GPU result"),
    "bench-overhead": ("harness.tools.bench_overhead:main",
                       "harness overhead vs a bare LoadGen SUT (a benchmark, prints ratios)"),
    "selftest-gpu": ("harness.tools.selftest_gpu:main", "TensorRT engines vs torch, then short Offline runs (GPU)"),
    "compare": ("harness.tools.compare:main",
                "this box's latest VALID results beside the published MLPerf results for its GPU, per GPU"),
    "report": ("harness.tools.report:report", "render results pages: summary.html per system, run pages, index"),
    "system": ("harness.tools.report:system",
               "detect this machine and write <results>/systems/<name>.json (keeps your edits)"),
    "compliance": ("harness.tools.compliance:main", "run and verify compliance tests TEST01/TEST04/TEST05 of a cell"),
    "submission": ("harness.tools.submission:main", "stage an MLPerf submission tree from the latest complete runs"),
    "knobs": ("harness.tools.knobs:main", "every knob of runs, backends and models, with types and defaults"),
    "nightly": ("harness.tools.nightly:main", "run a box's nightly matrix, store it, report regressions (exit 1)"),
    "history": ("harness.tools.history:main", "the history store: import run folders, list series"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: python -m harness <command> [--help] ...", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def command(name: str) -> Callable[[list[str]], int]:
    if name not in COMMANDS:
        close = closest(name, COMMANDS)
        raise HarnessError(f"unknown command '{name}'" + (f" (did you mean '{close}'?)" if close else ""),
                           "commands: " + ", ".join(COMMANDS))
    module_name, _, attr = COMMANDS[name][0].partition(":")
    function: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), attr)
    return function


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    try:
        return command(argv[0])(argv[1:])
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
