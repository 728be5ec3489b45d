"""`make selftest-gpu`: does the TensorRT backend agree with torch, and how fast is it, on this machine?

For every model the project has: build an fp16 engine from the same weights the torch backend
loads, run both on the same real preprocessed samples (the dataset if present, else the demo set
in the real format), compare the outputs within the tolerances below, then run a 30 s Offline test
under LoadGen with the TensorRT backend. Prints a pass/fail table with build times and samples/s.

Every TensorRT flavour that can run here is tested, each in its own process (one TensorRT library
per process): full TensorRT when it imports, and TensorRT for RTX when it imports and every GPU is one
it runs on (compute capability 7.5, 8.0, 8.6, 8.9, 12.0, 12.1).

Tolerances (fp16 engine vs the fp32 torch module):
  float outputs   max |trt - torch| <= 2% of max |torch| (and >= 0.999 cosine similarity)
  integer outputs (class ids, argmax) agree on >= 99% of samples with real weights; >= 90% with
                  random weights, whose logits sit close together so fp16 rounding flips more of them
  detections      padded detections (outputs boxes, scores, labels, count) compared as sets per image:
                  in score order, each torch detection matched to an unmatched engine detection of the
                  same label with IoU >= 0.9 and |score difference| <= 0.02; matched / the larger count
                  >= 95% with real weights, >= 90% with random weights
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.tools.child import child_env, run_child

FLOAT_RTOL = 0.02
MIN_COSINE = 0.999
MIN_AGREEMENT_REAL = 0.99
MIN_AGREEMENT_RANDOM = 0.90
DETECTION_IOU = 0.9
DETECTION_SCORE_TOL = 0.02
MIN_MATCHED_REAL = 0.95
MIN_MATCHED_RANDOM = 0.90
DETECTION_OUTPUTS = ("boxes", "scores", "labels", "count")


@dataclass
class Check:
    passed: bool
    text: str


@dataclass
class Row:
    model: str
    tensorrt: str = "-"
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


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each of ``boxes`` (any consistent corner order: [a0, b0, a1, b1])."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def matched_detections(ref_boxes: np.ndarray, ref_scores: np.ndarray, ref_labels: np.ndarray,
                       boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> int:
    """How many reference detections (taken best score first) find an unmatched candidate of the same
    label within DETECTION_SCORE_TOL of its score and at IoU >= DETECTION_IOU (the best such one)."""
    order = np.argsort(-ref_scores, kind="stable")
    free = np.ones(len(scores), dtype=bool)
    matched = 0
    for j in order:
        fits = free & (labels == ref_labels[j]) & (np.abs(scores - ref_scores[j]) <= DETECTION_SCORE_TOL)
        if not fits.any():
            continue
        ious = np.where(fits, _iou(ref_boxes[j], boxes), -1.0)
        best = int(np.argmax(ious))
        if ious[best] >= DETECTION_IOU:
            free[best] = False
            matched += 1
    return matched


def compare_detections(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
                       random_weights: bool) -> Check:
    """Padded detections per image as sets: rows past ``count`` are padding, row order is not compared."""
    names = DETECTION_OUTPUTS
    if any(n not in candidate for n in names):
        return Check(False, "detections: engine outputs " + ", ".join(n for n in names if n not in candidate)
                     + " missing")
    ref = {n: np.asarray(reference[n]) for n in names}
    got = {n: np.asarray(candidate[n]) for n in names}
    if ref["count"].shape != got["count"].shape:
        return Check(False, f"detections: {got['count'].shape[0]} images != torch {ref['count'].shape[0]}")
    matched = total = 0
    for i in range(ref["count"].shape[0]):
        n_ref, n_got = int(ref["count"][i]), int(got["count"][i])
        matched += matched_detections(ref["boxes"][i, :n_ref], ref["scores"][i, :n_ref], ref["labels"][i, :n_ref],
                                      got["boxes"][i, :n_got], got["scores"][i, :n_got], got["labels"][i, :n_got])
        total += max(n_ref, n_got)
    share = matched / total if total else 1.0
    needed = MIN_MATCHED_RANDOM if random_weights else MIN_MATCHED_REAL
    text = (f"detections: {share:.1%} matched as sets (IoU >= {DETECTION_IOU}, score within "
            f"{DETECTION_SCORE_TOL}; need {needed:.0%}), {int(ref['count'].sum())} torch vs "
            f"{int(got['count'].sum())} engine")
    return Check(share >= needed, text)


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
                    random_weights: bool) -> Check:
    """Every output of the engine against torch's; padded detections as sets, the rest tensor by tensor."""
    checks = []
    if all(n in reference for n in DETECTION_OUTPUTS):
        checks.append(compare_detections(reference, candidate, random_weights))
        reference = {n: a for n, a in reference.items() if n not in DETECTION_OUTPUTS}
    for name, ref in reference.items():
        if name not in candidate:
            checks.append(Check(False, f"{name}: missing"))
            continue
        check = compare_output(np.asarray(ref), np.asarray(candidate[name]), random_weights)
        checks.append(Check(check.passed, f"{name}: {check.text}"))
    return Check(all(c.passed for c in checks) and bool(checks), "; ".join(c.text for c in checks))


def format_table(rows: Sequence[Row]) -> str:
    header = ("model", "TensorRT", "engine build", "outputs vs torch", "Offline samples/s", "result")
    lines = [[r.model, r.tensorrt, r.build, r.outputs, r.samples_per_s, "PASS" if r.passed else "FAIL"]
             for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    for line, row in zip(lines, rows):
        out.append("  ".join(v.ljust(w) for v, w in zip(line, widths)))
        if row.problem:
            out.append(f"    {row.problem}")
    return "\n".join(out)


def flavours_to_test(importable: Sequence[str], compute_capabilities: Sequence[str]) -> list[str]:
    """The TensorRT flavours (module names) to self-test: full TensorRT when it imports, TensorRT for
    RTX when it imports and runs on every GPU here."""
    from harness.backends.tensorrt.flavour import MODULES, runs_on

    return [name for name in MODULES
            if name in importable and all(runs_on(name, cc) for cc in compute_capabilities)]


def _check_outputs(name: str, row: Row, samples: int, engine_dir: Path, flavour: str) -> None:
    from harness.backends.base import BackendContext
    from harness.backends.tensorrt.backend import TensorRTBackend, TensorRTOptions
    from harness.backends.torch_backend import TorchBackend
    from harness.qsl import SampleStore
    from harness.resolve import resolve
    from harness.spec import RunSpec

    resolved = resolve(RunSpec(model=name, scenario="Offline", backend="torch", device="cuda"))
    model, spec = resolved.model, resolved.spec
    dataset = model.open_dataset(resolved.data_dir, spec.preprocessed_dir)
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
    trt_backend = TensorRTBackend(model, trt_context, TensorRTOptions(flavour=flavour))
    row.tensorrt = trt_backend.flavour.label
    plan = trt_backend.plans[0]
    row.build = f"{plan.build_s:.1f} s" if plan.status != "reused" else "cached"
    with trt_backend.create_runner("cuda:0", 0) as runner:
        candidate = runner.infer(inputs, count)  # type: ignore[attr-defined]
    check = compare_outputs(reference, candidate, model.uses_random_weights)
    row.outputs, row.outputs_ok = check.text, check.passed


def _offline_run(name: str, duration_s: int, results_dir: Path, row: Row, flavour: str,
                 strongly_typed: bool) -> None:
    args = ["--model", name, "--scenario", "offline", "--backend", "tensorrt", "--min-duration-ms",
            str(duration_s * 1000), "--set", f"flavour={flavour}"]
    if strongly_typed:  # no INT8 calibration there: run the fp16 engine the comparison checked
        args += ["--set", "precision=fp16"]
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


def _each_flavour(flavours: Sequence[str], argv: Sequence[str]) -> int:
    """One child selftest per flavour (a process holds one TensorRT library); the worst exit code."""
    worst = 0
    for flavour in flavours:
        print(f"\n==== selftest-gpu with {flavour}", flush=True)
        proc = subprocess.run([sys.executable, "-m", "harness", "selftest-gpu", *argv, "--flavour", flavour],
                              env=child_env(), check=False)
        worst = max(worst, proc.returncode)
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    from harness.backends.tensorrt import flavour as flavours
    from harness.backends.tensorrt import loader
    from models import model_names

    parser = argparse.ArgumentParser(prog="python -m harness selftest-gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(model_names()), help="comma-separated (default: all)")
    parser.add_argument("--samples", type=int, default=64, help="samples compared with torch")
    parser.add_argument("--duration-s", type=int, default=30, help="Offline run length")
    parser.add_argument("--out", type=Path, default=Path("build/selftest"), help="engines and results go here")
    parser.add_argument("--flavour", default="all", choices=("all", *flavours.MODULES),
                        help="the TensorRT to test (default: every one that runs here, one process each)")
    args = parser.parse_args(argv)
    usable, why = loader.availability()
    if not usable:
        print(f"selftest-gpu needs a GPU and TensorRT: {why}", file=sys.stderr)
        return 2
    if args.flavour == "all":
        importable = [name for name in flavours.MODULES if flavours.find(name)[0] is not None]
        ccs = loader.gpu_compute_capabilities()
        chosen = flavours_to_test(importable, ccs)
        if not chosen:
            print(f"selftest-gpu: no TensorRT here runs on these GPUs: {loader.gpu_problem(ccs)}", file=sys.stderr)
            return 2
        if len(chosen) > 1:
            return _each_flavour(chosen, list(argv if argv is not None else sys.argv[2:]))
        args.flavour = chosen[0]
    strongly_typed = loader.activate(args.flavour).strongly_typed
    rows = []
    run_id = time.strftime("%Y%m%d-%H%M%S")
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        row = Row(name)
        rows.append(row)
        try:
            _check_outputs(name, row, args.samples, args.out / "engines", args.flavour)
            _offline_run(name, args.duration_s, args.out / "results" / run_id, row, args.flavour, strongly_typed)
        except HarnessError as exc:
            row.problem = str(exc).replace("\n", " ")
    print("\n" + format_table(rows))
    print(f"\ntolerances: float outputs within {FLOAT_RTOL:.0%} of range and cosine >= {MIN_COSINE}; "
          f"integer outputs agree on >= {MIN_AGREEMENT_REAL:.0%} (random weights: {MIN_AGREEMENT_RANDOM:.0%}); "
          f"detections matched as sets on >= {MIN_MATCHED_REAL:.0%} ({MIN_MATCHED_RANDOM:.0%})")
    return 0 if rows and all(r.passed for r in rows) else 1
