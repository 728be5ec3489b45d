"""Benchmark: the fast path against the reference path on one device, same network, same prompts.

  python -m models.gptj.speed                                  # CPU: tiny random GPT-J, 16 demo prompts
  python -m models.gptj.speed --device cuda --network 6b --samples 64 --slots 32 --precision bf16
  python -m models.gptj.speed --device cuda --weights data/models/gptj/checkpoint-final --data-dir data/cnndm

Both paths decode the same prompts with the reference's beam search; the fast path with ``--slots`` slots
(continuous batching), the reference path in static batches of the same size. Prints samples/s for each,
MLPerf's inferred tokens/s (69 x samples/s), the ids actually generated per second, the speed-up and how
many samples both paths answered identically (all of them in fp32; bf16/fp16 may differ in a few).
A warm-up pass over the first prompts (CUDA graph capture, allocator) runs before each timing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from models.generation import generate_all
from models.gptj import GptJ, GptjOptions

TOKENS_PER_SAMPLE = 69  # LoadGen's token_latency_scaling_factor for gptj


def _prompts(model: GptJ, data_dir: Path | None, count: int, cache: Path) -> list[np.ndarray]:
    if data_dir is None:
        data_dir = cache / "demo"
        model.write_demo_data(data_dir, count)
    dataset = model.open_dataset(data_dir, cache)
    return [dataset.load_sample(i)["input_ids"] for i in range(min(count, dataset.total_count))]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _timed(run: Any, prompts: list[np.ndarray], device: str) -> tuple[float, list[np.ndarray]]:
    _sync(device)
    started = time.perf_counter()
    out = run(prompts)
    _sync(device)
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--precision", default=None, help="fp32 | bf16 | fp16 (default: fp32 on CPU, bf16 on CUDA)")
    parser.add_argument("--network", default="auto", choices=("auto", "6b", "tiny"), help="random-weights shape")
    parser.add_argument("--weights", type=Path, default=None, help="a checkpoint folder instead of random weights")
    parser.add_argument("--data-dir", type=Path, default=None, help="a cnn_eval.json folder (default: demo articles)")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--slots", type=int, default=8, help="fast-path slots = reference batch size")
    parser.add_argument("--cache", type=Path, default=Path("build/cache/gptj-speed"))
    args = parser.parse_args(argv)
    on_gpu = args.device.startswith("cuda")
    precision = args.precision or ("bf16" if on_gpu else "fp32")
    timings: dict[str, float] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    for path in ("reference", "fast"):
        options = GptjOptions(generator=path, network=args.network, fit_batch_to_memory=True)
        model = GptJ(weights=args.weights, options=options, on_gpu=on_gpu)
        prompts = _prompts(model, args.data_dir, args.samples, args.cache)
        engine = model.torch_generator(args.device, precision, args.slots)
        run = engine if path == "reference" else (lambda ps, e=engine: generate_all(e, ps))
        _timed(run, prompts[: min(2, len(prompts))], args.device)  # warm-up
        timings[path], outputs[path] = _timed(run, prompts, args.device)
        generated = sum(len(o) for o in outputs[path])
        rate = len(prompts) / timings[path]
        batching = f"{engine.slots} slots" if path == "fast" else f"batches of {args.slots}"
        print(f"{path:9s}: {len(prompts)} samples in {timings[path]:.2f} s = {rate:.3f} samples/s, "
              f"{rate * TOKENS_PER_SAMPLE:.1f} tokens/s (inferred), {generated / timings[path]:.1f} ids/s generated"
              f"  [{model.shape.describe()}, {precision}, {args.device}, {batching}]", flush=True)
        del engine, model
    same = sum(np.array_equal(a, b) for a, b in zip(outputs["fast"], outputs["reference"]))
    print(f"fast / reference: {timings['reference'] / timings['fast']:.2f}x; identical answers: "
          f"{same} of {len(outputs['fast'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
