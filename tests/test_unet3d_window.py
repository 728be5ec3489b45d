"""The 3D-UNet sliding-window program against a plain whole-volume loop written here."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch

from models.program import ProgramSetup
from models.specs import Responses
from models.unet3d import MODEL, network
from models.unet3d.program import SlidingWindow
from models.unet3d.window import gaussian_importance_map, window_counts, window_starts

Net = Callable[[torch.Tensor], torch.Tensor]


def elementwise_net(x: torch.Tensor) -> torch.Tensor:
    """A stand-in network whose rows do not depend on the batch they come in (exact under batching)."""
    return torch.cat([x, -x, 0.5 * x * x - 1.0], dim=1)


class Runner:
    """A network runner on the CPU that counts its calls."""

    torch_device = "cpu"

    def __init__(self, net: Net, consumes: bool = True) -> None:
        self.net = net
        self.consumes = consumes
        self.batches: list[int] = []

    def infer_tensors(self, inputs: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
        self.batches.append(count)
        if not self.consumes:
            assert inputs == {}
            return {"output": torch.zeros((count, 3, 128, 128, 128))}
        assert inputs["input"].shape == (count, 1, 128, 128, 128)
        with torch.inference_mode():
            return {"output": self.net(inputs["input"])}


class Samples:
    ragged = True

    def __init__(self, volumes: list[np.ndarray]) -> None:
        self.volumes = volumes
        self.total_count = len(volumes)

    def sample(self, index: int) -> dict[str, np.ndarray]:
        return {"image": self.volumes[index]}

    def example_indices(self, count: int) -> np.ndarray:
        return np.arange(count)

    def gather(self, qsl_indices: np.ndarray) -> dict[str, np.ndarray]:
        raise TypeError("ragged samples")

    def example(self, count: int) -> dict[str, np.ndarray]:
        raise TypeError("ragged samples")


def plain_loop(volume: np.ndarray, net: Net) -> np.ndarray:
    """The reference's algorithm, one window per network call: (1, D, H, W) -> (D, H, W) uint8."""
    image = torch.from_numpy(volume)[None]
    _, _, d, h, w = image.shape
    result = torch.zeros((1, 3, d, h, w))
    norm = torch.zeros((1, 3, d, h, w))
    patch = torch.from_numpy(np.array(gaussian_importance_map()))
    for z in range(0, d - 128 + 1, 64):
        for y in range(0, h - 128 + 1, 64):
            for x in range(0, w - 128 + 1, 64):
                with torch.inference_mode():
                    out = net(image[..., z:z + 128, y:y + 128, x:x + 128])
                result[..., z:z + 128, y:y + 128, x:x + 128] += out * patch
                norm[..., z:z + 128, y:y + 128, x:x + 128] += patch
    return torch.argmax(result / norm, dim=1)[0].to(torch.uint8).numpy()


def run_program(volumes: list[np.ndarray], net: Net, batch_size: int, windows_per_call: int | None = None,
                consumes: bool = True) -> tuple[dict[int, bytes], Runner, SlidingWindow]:
    runner = Runner(net, consumes)
    options = MODEL.options(windows_per_call=windows_per_call)
    program = SlidingWindow(MODEL(), runner, Samples(volumes), ProgramSetup(batch_size, consumes, options))
    answered: dict[int, bytes] = {}

    def done(ids: Sequence[int], responses: Responses) -> None:
        assert len(ids) == len(responses) == 1 and ids[0] not in answered
        answered[ids[0]] = responses.sample_bytes(0)

    program.run([100 + i for i in range(len(volumes))], np.arange(len(volumes)), done)
    return answered, runner, program


def _volumes() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.normal(size=(1, *shape)).astype(np.float32)
            for shape in ((128, 192, 128), (192, 128, 192), (128, 128, 128))]


@pytest.fixture(scope="module")
def expected_labels() -> list[bytes]:
    return [plain_loop(volume, elementwise_net).tobytes() for volume in _volumes()]


def test_window_geometry() -> None:
    assert window_counts((128, 192, 256)) == [1, 2, 3]
    assert window_starts((128, 192, 256)) == [(0, 0, 0), (0, 0, 64), (0, 0, 128), (0, 64, 0), (0, 64, 64),
                                              (0, 64, 128)]
    assert window_counts((320, 256, 384)) == [4, 3, 5]
    assert window_starts((127, 128, 128)) == []


def test_gaussian_importance_map_by_hand() -> None:
    """cbrt(g(i) g(j) g(k)) / max with g(k) = exp(-((k - 63.5) / 16)^2 / 2) is
    exp(-sum((k - 63.5)^2 - 0.25) / (6 * 256)): 1 at the centre voxels, exp(-7.875) at a corner."""
    patch = gaussian_importance_map()
    assert patch.shape == (128, 128, 128) and patch.dtype == np.float32 and not patch.flags.writeable
    assert patch.max() == np.float32(1.0) and patch[63, 64, 63] == np.float32(1.0)
    np.testing.assert_allclose(patch[0, 0, 0], math.exp(-7.875), rtol=1e-5)
    np.testing.assert_allclose(patch[63, 63, 0], math.exp(-2.625), rtol=1e-5)
    np.testing.assert_allclose(patch[10, 100, 30], math.exp(-(53.5**2 + 36.5**2 + 33.5**2 - 0.75) / 1536), rtol=1e-5)
    assert np.array_equal(patch, patch[::-1, :, :]) and np.array_equal(patch, patch.transpose(2, 0, 1))


@pytest.mark.parametrize(("batch_size", "windows_per_call"), [(1, None), (3, None), (8, 2)])
def test_sliding_window_matches_the_plain_loop(batch_size: int, windows_per_call: int | None,
                                               expected_labels: list[bytes]) -> None:
    volumes = _volumes()
    answered, runner, program = run_program(volumes, elementwise_net, batch_size, windows_per_call)
    per_call = windows_per_call or batch_size
    total = 2 + 4 + 1
    assert sum(runner.batches) == program.windows == total
    # Windows of consecutive samples share calls: only the last call of the run is short.
    assert runner.batches == [per_call] * (total // per_call) + ([total % per_call] if total % per_call else [])
    assert sorted(answered) == [100, 101, 102]
    for i, volume in enumerate(volumes):
        assert answered[100 + i] == expected_labels[i]
        assert len(answered[100 + i]) == volume[0].size
    # The stand-in network makes every class win somewhere, and the weighting decides some voxels.
    labels = np.frombuffer(answered[101], dtype=np.uint8)
    assert set(np.unique(labels)) == {0, 1, 2}


def test_gaussian_weighting_is_what_the_labels_follow() -> None:
    """A plain average of the overlapping windows gives other labels: the test can tell them apart."""
    volume = _volumes()[1]

    def position_net(x: torch.Tensor) -> torch.Tensor:  # depends on where the window sits
        corner = x[:, :, :1, :1, :1]
        return torch.cat([x - corner, corner.expand_as(x), torch.zeros_like(x)], dim=1)

    answered, _, _ = run_program([volume], position_net, 4)
    image = torch.from_numpy(volume)[None]
    total = torch.zeros((1, 3, *volume.shape[1:]))
    for z, y, x in window_starts(volume.shape[1:]):
        total[..., z:z + 128, y:y + 128, x:x + 128] += position_net(image[..., z:z + 128, y:y + 128, x:x + 128])
    flat = torch.argmax(total, dim=1)[0].to(torch.uint8).numpy().tobytes()
    assert answered[100] == plain_loop(volume, position_net).tobytes()
    assert answered[100] != flat


def test_reduced_network_matches_the_plain_loop() -> None:
    """The real (reduced-width, random) network on one window (the stitching is tested above)."""
    net = network.build(None, 0, network.REDUCED)
    volume = _volumes()[2]
    answered, runner, _ = run_program([volume], net, 1)
    assert runner.batches == [1]
    assert answered[100] == plain_loop(volume, net).tobytes()


def test_runner_that_ignores_inputs_still_answers_every_sample() -> None:
    volumes = _volumes()
    answered, runner, _ = run_program(volumes, elementwise_net, 4, consumes=False)
    assert runner.batches == [4, 3]
    for i, volume in enumerate(volumes):
        assert answered[100 + i] == bytes(volume[0].size)  # argmax of equal logits: class 0


def test_runners_are_sized_for_the_windows_per_call() -> None:
    assert SlidingWindow.runner_batch_size(8, MODEL.options()) == 8
    assert SlidingWindow.runner_batch_size(8, MODEL.options(windows_per_call=16)) == 16
    answered, runner, _ = run_program(_volumes()[:2], elementwise_net, 1, windows_per_call=5)
    assert runner.batches == [5, 1] and len(answered) == 2
