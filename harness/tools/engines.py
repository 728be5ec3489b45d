"""`python -m harness engines`: build (or check) the TensorRT engines a run would use, ahead of time."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from harness.common import say
from harness.errors import HarnessError
from harness.resolve import resolve
from harness.spec import RunSpec
from harness.tools.args import add_run_arguments, spec_from_args


def build_engines(specs: list[RunSpec], force: bool = False) -> int:
    """Resolve each spec like `run` does (system knobs, weights, dataset for calibration) and prepare its plan."""
    from harness.backends.tensorrt.backend import TensorRTBackend
    from harness.run import backend_context

    rows = []
    for spec in specs:
        spec = replace(spec, backend="tensorrt")
        resolved = resolve(spec)
        for warning in resolved.warnings:
            say(f"!! {warning}")
        k = resolved.knobs.run
        say(f"== engines for {resolved.model.name} {spec.scenario} on {resolved.system.name}: precision "
            f"{k.precision}, batch {k.batch_size}, {k.streams_per_device} stream(s)/GPU")
        dataset = resolved.model.open_dataset(resolved.data_dir, spec.preprocessed_dir)
        started = time.monotonic()
        backend = TensorRTBackend(resolved.model, backend_context(resolved, dataset), resolved.knobs.backend,
                                  force_rebuild=force)
        say(f"   {backend.flavour.label}")
        for index in range(len(backend.devices())):
            backend.engine_on(index)  # proves each plan loads on each GPU
        for note in backend.notes:
            say(f"!! {note}")
        for plan in backend.plans:
            rows.append((resolved.model.name, spec.scenario, plan.gpu, plan.status, plan.build_s, plan.path))
        say(f"   ready in {time.monotonic() - started:.1f} s")
    if not rows:
        raise HarnessError("nothing to build", "name a model and scenario")
    print("\nmodel      scenario  GPU                        status   build s  plan")
    for model, scenario, gpu, status, build_s, path in rows:
        print(f"{model:<10} {scenario:<9} {gpu[:26]:<26} {status:<8} {build_s:>7.1f}  {path}")
    return 0


def main(argv: list[str]) -> int:
    """Build the TensorRT engines `run` would use (per scenario: batch sizes and streams differ)."""
    from models import get_model_class

    p = argparse.ArgumentParser(prog="python -m harness engines",
                                description="build the TensorRT engines for a model ahead of time")
    add_run_arguments(p, scenario_required=False)
    p.add_argument("--force", action="store_true", help="rebuild even when a valid cached engine exists")
    args = p.parse_args(argv)
    if args.scenario.strip().lower() == "all":
        scenarios = list(get_model_class(args.model).scenarios)
    else:
        scenarios = [s for s in args.scenario.split(",") if s.strip()]
    specs = []
    for scenario in scenarios:
        args.scenario = scenario
        specs.append(spec_from_args(args))
    return build_engines(specs, force=args.force)


def generate_engines(argv: list[str]) -> int:
    """NVIDIA's `make generate_engines RUN_ARGS="--benchmarks=... --scenarios=..."`."""
    from harness.tools.run import nvidia_to_runs

    p = argparse.ArgumentParser(prog="python -m harness generate_engines")
    add_run_arguments(p)
    p.add_argument("--force", action="store_true")
    specs = [spec_from_args(p.parse_args(run_args)) for run_args in nvidia_to_runs(argv)]
    return build_engines(specs, force="--force" in argv)
