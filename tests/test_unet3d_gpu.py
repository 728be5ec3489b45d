"""The 3D-UNet program on the torch backend's CUDA runner (needs a CUDA GPU; skipped elsewhere).

On the device the program must give the labels of the reference's plain loop run on the same device with
one window per call, keep its sums there, and (fp16) stay close to fp32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.backends.base import BackendContext
from harness.backends.torch_backend import TorchBackend
from harness.qsl import SampleStore
from models.program import ProgramSetup
from models.unet3d import MODEL
from models.unet3d.bench import OneVolume, plain_loop
from models.unet3d.program import SlidingWindow

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of torch")]


def _program(volume: np.ndarray, windows_per_call: int, precision: str = "fp32") -> tuple[Any, SlidingWindow]:
    options = MODEL.options(windows_per_call=windows_per_call, network_width="full")
    model = MODEL(seed=2, options=options, on_gpu=True)
    context = BackendContext(kind="network", device="cuda", precision=precision, max_batch_size=windows_per_call,
                             cache_dir=Path("build/cache"))
    runner = TorchBackend(model, context, TorchBackend.Options()).runners()[0]
    store = SampleStore(OneVolume(volume), MODEL.sample_inputs, ragged=True)
    store.load([0])
    return model, SlidingWindow(model, runner, store, ProgramSetup(windows_per_call, True, options))


def _labels(program: SlidingWindow) -> np.ndarray:
    got: list[bytes] = []
    program.run([0], np.zeros(1, dtype=np.int64), lambda ids, r: got.append(r.sample_bytes(0)))
    return np.frombuffer(got[0], dtype=np.uint8)


def test_device_program_matches_the_plain_loop_on_the_device() -> None:
    volume = np.random.default_rng(0).normal(size=(1, 128, 192, 192)).astype(np.float32)
    model, program = _program(volume, 1)
    assert program.device.type == "cuda" and program.windows_per_call == 1
    with torch.backends.cudnn.flags(deterministic=True, benchmark=False):
        labels = _labels(program)
        expected = plain_loop(volume, model.torch_module().cuda().eval(), "cuda")
    assert labels.tobytes() == expected.tobytes()


def test_batched_fp16_windows_stay_close_to_fp32() -> None:
    volume = np.random.default_rng(1).normal(size=(1, 192, 192, 128)).astype(np.float32)
    _, fp32 = _program(volume, 1)
    _, fp16 = _program(volume, 4, "fp16")
    a, b = _labels(fp32), _labels(fp16)
    assert fp16.calls == 1 and fp16.windows == 4
    assert np.count_nonzero(a != b) / a.size < 0.05  # near-ties of a random network may flip
