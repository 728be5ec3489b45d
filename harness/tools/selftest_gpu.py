"""`make selftest-gpu`: does the TensorRT backend agree with torch, and how fast is it, on this machine?

For every model the project has: build an fp16 engine from the same weights the torch backend
loads, run both on the same real preprocessed samples (the dataset if present, else the demo set
in the real format), compare the outputs within the tolerances below, then run a 30 s Offline test
under LoadGen with the TensorRT backend. Prints a pass/fail table with build times and samples/s.

Tolerances (fp16 engine vs the fp32 torch module):
  float outputs   max |trt - torch| <= 2% of max |torch| (and >= 0.999 cosine similarity)
  integer outputs (class ids, argmax) agree on >= 99% of samples with real weights; >= 90% with
                  random weights, whose logits sit close together so fp16 rounding flips more of them
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.tools.child import run_child

FLOAT_RTOL = 0.02
MIN_COSINE = 0.999
MIN_AGREEMENT_REAL = 0.99
MIN_AGREEMENT_RANDOM = 0.90


@dataclass
class Check:
    passed: bool
    text: str


@dataclass
class Row:
    model: str
    build: str = "-"
    outputs: str = "-"
    outputs_ok: bool = False
    samples_per_s: str = "-"
    run_ok: bool = False
    problem: str = ""

    @property
    def passed(self) -> bool:
        return self.outputs_ok and self.run_ok and not self.problem


def compare_output(reference: np.ndarray, candidate: np.ndarray, random_weights: bool) -> Check:
    """One output tensor of the engine against torch's, by the tolerances in the module doc."""
    if reference.shape != candidate.shape:
        return Check(False, f"shape {candidate.shape} != torch {reference.shape}")
    if np.issubdtype(reference.dtype, np.floating):
        ref = reference.astype(np.float64).reshape(-1)
        got = candidate.astype(np.float64).reshape(-1)
        if not np.all(np.isfinite(got)):
            return Check(False, "non-finite values")
        scale = max(float(np.max(np.abs(ref))), 1e-12)
        worst = float(np.max(np.abs(got - ref))) / scale
        norms = float(np.linalg.norm(ref) * np.linalg.norm(got))
        cosine = float(np.dot(ref, got) / norms) if norms else 1.0
        ok = worst <= FLOAT_RTOL and cosine >= MIN_COSINE
        return Check(ok, f"max err {worst:.2%} of range, cos {cosine:.5f}")
    rows = reference.reshape(reference.shape[0], -1)
    same = np.all(rows == candidate.reshape(candidate.shape[0], -1), axis=1)
    agreement = float(np.mean(same)) if len(same) else 1.0
    needed = MIN_AGREEMENT_RANDOM if random_weights else MIN_AGREEMENT_REAL
    return Check(agreement >= needed, f"{agreement:.1%} agree (need {needed:.0%})")


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
                    random_weights: bool) -> Check:
    checks = []
    for name, ref in reference.items():
        if name not in candidate:
            checks.append(Check(False, f"{name}: missing"))
            continue
        check = compare_output(np.asarray(ref), np.asarray(candidate[name]), random_weights)
        checks.append(Check(check.passed, f"{name}: {check.text}"))
    return Check(all(c.passed for c in checks) and bool(checks), "; ".join(c.text for c in checks))


def format_table(rows: Sequence[Row]) -> str:
    header = ("model", "engine build", "outputs vs torch", "Offline samples/s", "result")
    lines = [[r.model, r.build, r.outputs, r.samples_per_s, "PASS" if r.passed else "FAIL"] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    for line, row in zip(lines, rows):
        out.append("  ".join(v.ljust(w) for v, w in zip(line, widths)))
        if row.problem:
            out.append(f"    {row.problem}")
    return "\n".join(out)


def _check_outputs(name: str, row: Row, samples: int, engine_dir: Path) -> None:
    from harness.backends.base import BackendContext
    from harness.backends.tensorrt.backend import TensorRTBackend
    from harness.backends.torch_backend import TorchBackend
    from harness.qsl import SampleStore
    from harness.resolve import resolve
    from harness.spec import RunSpec

    resolved = resolve(RunSpec(model=name, scenario="Offline", backend="torch", device="cuda"))
    model, spec = resolved.model, resolved.spec
    dataset = model.open_dataset(resolved.data_dir, spec.cache_dir / "preprocessed")
    count = min(samples, dataset.total_count)
    store = SampleStore(dataset, model.sample_inputs, model.ragged)
    if model.ragged or model.program.needs != "network":
        raise HarnessError(f"{name}: the engine check compares whole-sample network outputs; this model's "
                           f"program ({model.program.__name__}) needs its own check")
    store.load(list(range(count)))
    inputs = store.gather(np.arange(count))
    print(f"== {name}: {model.describe_weights()}; {dataset.describe()}; comparing {count} samples", flush=True)
    torch_context = BackendContext(device="cuda", precision="fp32", max_batch_size=count, cache_dir=spec.cache_dir)
    with TorchBackend(model, torch_context).create_runner("cuda:0", 0) as runner:
        reference = runner.infer(inputs, count)  # type: ignore[attr-defined]
    trt_context = replace(torch_context, precision="fp16", engine_dir=engine_dir, calibration=dataset)
    trt_backend = TensorRTBackend(model, trt_context)
    plan = trt_backend.plans[0]
    row.build = f"{plan.build_s:.1f} s" if plan.status != "reused" else "cached"
    with trt_backend.create_runner("cuda:0", 0) as runner:
        candidate = runner.infer(inputs, count)  # type: ignore[attr-defined]
    check = compare_outputs(reference, candidate, model.uses_random_weights)
    row.outputs, row.outputs_ok = check.text, check.passed


def _offline_run(name: str, duration_s: int, results_dir: Path, row: Row) -> None:
    args = ["--model", name, "--scenario", "offline", "--backend", "tensorrt", "--min-duration-ms",
            str(duration_s * 1000)]
    print(f"== {name}: {duration_s} s Offline run: run {' '.join(args)}", flush=True)
    child = run_child(args, results_dir, capture=False)
    if child.returncode != 0 or child.record is None:
        row.problem = f"the Offline run exited {child.returncode}"
        return
    record = child.record
    result = record.get("result", {})
    value = result.get("value")
    row.samples_per_s = f"{value:,.0f}" if value is not None else "no result"
    row.run_ok = value is not None
    if not result.get("valid", False):
        row.samples_per_s += " (INVALID)"


def main(argv: Sequence[str] | None = None) -> int:
    from harness.backends.tensorrt import loader
    from models import model_names

    parser = argparse.ArgumentParser(prog="python -m harness selftest-gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(model_names()), help="comma-separated (default: all)")
    parser.add_argument("--samples", type=int, default=64, help="samples compared with torch")
    parser.add_argument("--duration-s", type=int, default=30, help="Offline run length")
    parser.add_argument("--out", type=Path, default=Path("build/selftest"), help="engines and results go here")
    args = parser.parse_args(argv)
    usable, why = loader.availability()
    if not usable:
        print(f"selftest-gpu needs a GPU and TensorRT: {why}", file=sys.stderr)
        return 2
    rows = []
    run_id = time.strftime("%Y%m%d-%H%M%S")
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        row = Row(name)
        rows.append(row)
        try:
            _check_outputs(name, row, args.samples, args.out / "engines")
            _offline_run(name, args.duration_s, args.out / "results" / run_id, row)
        except HarnessError as exc:
            row.problem = str(exc).replace("\n", " ")
    print("\n" + format_table(rows))
    print(f"\ntolerances: float outputs within {FLOAT_RTOL:.0%} of range and cosine >= {MIN_COSINE}; "
          f"integer outputs agree on >= {MIN_AGREEMENT_REAL:.0%} (random weights: {MIN_AGREEMENT_RANDOM:.0%})")
    return 0 if rows and all(r.passed for r in rows) else 1


