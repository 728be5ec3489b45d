"""`python -m harness engines`: build (or check) the TensorRT engines a run would use, ahead of time."""

from __future__ import annotations

import time
from dataclasses import replace

from harness.backends.tensorrt.backend import TensorRTBackend
from harness.errors import HarnessError
from harness.resolve import resolve
from harness.spec import RunSpec


def build_engines(specs: list[RunSpec], force: bool = False) -> int:
    """Resolve each spec like `run` does (system knobs, weights, dataset for calibration) and prepare its plan."""
    from harness.run import backend_options

    rows = []
    for spec in specs:
        spec = replace(spec, backend="tensorrt")
        resolved = resolve(spec)
        for warning in resolved.warnings:
            print(f"!! {warning}", flush=True)
        k = resolved.knobs
        print(f"== engines for {resolved.model.name} {spec.scenario} on {resolved.system.name}: precision "
              f"{k.precision}, batch {k.batch_size}, {k.streams_per_device} stream(s)/GPU", flush=True)
        dataset = resolved.model.open_dataset(resolved.data_dir, spec.cache_dir / "preprocessed")
        started = time.monotonic()
        backend = TensorRTBackend(resolved.model, backend_options(resolved, dataset), force_rebuild=force)
        for index in range(len(backend.devices())):
            backend.engine_on(index)  # proves each plan loads on each GPU
        for note in backend.notes:
            print(f"!! {note}", flush=True)
        for plan in backend.plans:
            rows.append((resolved.model.name, spec.scenario, plan.gpu, plan.status, plan.build_s, plan.path))
        print(f"   ready in {time.monotonic() - started:.1f} s", flush=True)
    if not rows:
        raise HarnessError("nothing to build", "name a model and scenario")
    print("\nmodel      scenario  GPU                        status   build s  plan")
    for model, scenario, gpu, status, build_s, path in rows:
        print(f"{model:<10} {scenario:<9} {gpu[:26]:<26} {status:<8} {build_s:>7.1f}  {path}")
    return 0
