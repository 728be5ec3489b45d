"""Benchmark: the harness's sliding-window program against a plain per-window loop, same network.

    python -m models.unet3d.bench [--shape 128,192,192] [--network reduced] [--windows-per-call 1]
                                  [--repeats 3] [--device cpu] [--threads N]

The plain loop is the reference's algorithm as MLCommons' SUTs run it: one network call per window,
the sums and the norm map in NumPy float32 on the host, then division and argmax in NumPy. The harness
side is models.unet3d.program.SlidingWindow on the torch backend's runner (windows batched per call,
sums and argmax in torch on the runner's device). Both see the same volume and the same weights; the
best of ``--repeats`` interleaved runs of each is compared (wall time, and this process's CPU time, the
steadier figure on a shared machine), and the label volumes are checked against each other.

``--network elementwise`` swaps the 3D U-Net for a per-voxel stand-in (three cheap channels), so the
figures isolate what the two sides do around the network: slicing, weighting, stitching, argmax.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from models.base import Dataset


class Elementwise:
    """A stand-in network: per-voxel logits (x, -x, x^2 / 2 - 1), independent of the batch."""

    def __call__(self, x: Any) -> Any:
        import torch

        return torch.cat([x, -x, 0.5 * x * x - 1.0], dim=1)

    def to(self, *args: Any, **kwargs: Any) -> "Elementwise":
        return self

    def eval(self) -> "Elementwise":
        return self


class OneVolume(Dataset):
    name = "random volume"
    location = "memory"

    def __init__(self, volume: np.ndarray) -> None:
        self.volume = volume

    @property
    def total_count(self) -> int:
        return 1

    def load_sample(self, index: int) -> dict[str, np.ndarray]:
        return {"image": self.volume}


def plain_loop(volume: np.ndarray, module: object, device: str) -> np.ndarray:
    """(1, D, H, W) -> (D, H, W) uint8, one window per call, accumulation on the host (the reference)."""
    import torch

    from models.unet3d.window import gaussian_importance_map, window_starts

    image = volume[np.newaxis]
    result = np.zeros((1, 3, *volume.shape[1:]), dtype=np.float32)
    norm = np.zeros_like(result)
    patch = gaussian_importance_map()
    for z, y, x in window_starts(volume.shape[1:]):
        window = np.ascontiguousarray(image[..., z:z + 128, y:y + 128, x:x + 128])
        with torch.inference_mode():
            out = module(torch.from_numpy(window).to(device)).cpu().numpy()  # type: ignore[operator]
        result[..., z:z + 128, y:y + 128, x:x + 128] += out * patch
        norm[..., z:z + 128, y:y + 128, x:x + 128] += patch
    result /= norm
    return np.argmax(result, axis=1)[0].astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="128,192,192", help="preprocessed volume D,H,W (multiples of 64, >= 128)")
    parser.add_argument("--network", default="reduced", choices=("reduced", "full", "elementwise"),
                        help="the 3D U-Net's width (random weights), or a per-voxel stand-in")
    parser.add_argument("--windows-per-call", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)

    import torch

    from harness.backends.base import BackendContext
    from harness.backends.torch_backend import TorchBackend
    from harness.qsl import SampleStore
    from models.program import ProgramSetup
    from models.unet3d import MODEL
    from models.unet3d.program import SlidingWindow
    from models.unet3d.window import window_starts

    if args.threads:
        torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    windows = len(window_starts(shape))
    if len(shape) != 3 or windows == 0:
        parser.error(f"--shape {args.shape}: need D,H,W of at least 128 each")
    volume = np.random.default_rng(0).normal(0.0, 1.0, (1, *shape)).astype(np.float32)
    width = "reduced" if args.network == "elementwise" else args.network
    options = MODEL.options(windows_per_call=args.windows_per_call, network_width=width)
    model = MODEL(options=options, on_gpu=args.device == "cuda")
    if args.network == "elementwise":
        model.torch_module = Elementwise  # type: ignore[method-assign,assignment]
    context = BackendContext(kind="network", device=args.device, max_batch_size=args.windows_per_call,
                             cache_dir=Path("build/cache"))
    backend = TorchBackend(model, context, TorchBackend.Options())
    runner: Any = backend.runners()[0]
    store = SampleStore(OneVolume(volume), MODEL.sample_inputs, ragged=True)
    store.load([0])
    program = SlidingWindow(model, runner, store, ProgramSetup(args.windows_per_call, True, options))
    module = model.torch_module().to(args.device).eval()
    device = str(runner.torch_device)

    got: list[bytes] = []
    def harness_once() -> None:
        program.run([0], np.zeros(1, dtype=np.int64), lambda ids, responses: got.append(responses.sample_bytes(0)))

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    described = "per-voxel stand-in network" if args.network == "elementwise" else model.width.describe()
    print(f"volume {shape} ({windows} windows), {described}, device {device}, "
          f"{torch.get_num_threads()} CPU threads, windows per call {args.windows_per_call}", file=sys.stderr)
    harness_once()
    plain = plain_loop(volume, module, device)  # warm-up, and the labels to compare
    wall = {"plain": float("inf"), "harness": float("inf")}
    cpu = dict(wall)
    for _ in range(args.repeats):
        for side, once in (("plain", lambda: plain_loop(volume, module, device)), ("harness", harness_once)):
            sync()
            started, started_cpu = time.perf_counter(), time.process_time()
            once()
            sync()
            wall[side] = min(wall[side], time.perf_counter() - started)
            cpu[side] = min(cpu[side], time.process_time() - started_cpu)
    differing = int(np.count_nonzero(np.frombuffer(got[-1], dtype=np.uint8) != plain.ravel()))
    for side, label in (("plain", "plain loop (reference algorithm)"), ("harness", "harness sliding window")):
        print(f"{label + ':':34}{wall[side]:8.3f} s per volume ({wall[side] / windows * 1e3:6.0f} ms per window), "
              f"CPU {cpu[side]:8.3f} s")
    print(f"ratio plain / harness: {wall['plain'] / wall['harness']:.2f}x wall, "
          f"{cpu['plain'] / cpu['harness']:.2f}x CPU time; labels differing: {differing} of {plain.size} voxels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
