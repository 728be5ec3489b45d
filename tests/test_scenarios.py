"""Batching, response packing and the QSL sample store, with LoadGen's own response type."""

from __future__ import annotations

import ctypes
import threading
import time

import mlperf_loadgen as lg
import numpy as np
import pytest

from harness.backends.base import NetworkRunner
from harness.qsl import SampleStore
from harness.scenarios.base import Completer, ProgramSlot, pack_responses
from harness.scenarios.offline import OfflineSUT
from harness.scenarios.server import DynamicBatcher, ServerSUT
from models.base import Dataset, Responses, TensorSpec
from models.program import ProgramSetup, SinglePass


class CountingDataset(Dataset):
    """Sample i is an int32 row filled with i (length `width`); true lengths 1 + i % width."""

    name = "counting"

    def __init__(self, count: int, width: int = 4) -> None:
        self.count, self.width = count, width
        self.loads: list[list[int]] = []

    @property
    def total_count(self) -> int:
        return self.count

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        self.loads.append(indices.tolist())
        return {"x": np.repeat(indices.astype(np.int32)[:, None], self.width, axis=1)}

    def sample_lengths(self) -> np.ndarray:
        return 1 + np.arange(self.count) % self.width


class EchoRunner(NetworkRunner):
    """Returns each sample's first input value: lets a test check which sample reached which response."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def infer(self, inputs: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        self.batch_sizes.append(count)
        return {"y": inputs["x"][:, 0].astype(np.int64)}


def read_response(response: lg.QuerySampleResponse) -> bytes:
    return ctypes.string_at(response.data, response.size)


def test_pack_responses_points_each_id_at_its_bytes() -> None:
    responses = Responses(np.arange(10, dtype=np.uint8), np.array([0, 3, 3, 10]))
    packed = pack_responses([7, 8, 9], responses, lg.QuerySampleResponse)
    assert [p.id for p in packed] == [7, 8, 9]
    assert [read_response(p) for p in packed] == [bytes([0, 1, 2]), b"", bytes(range(3, 10))]
    rows = Responses.rows(np.array([[1.5, 2.5], [3.5, 4.5]], dtype=np.float32))
    assert rows.offsets.tolist() == [0, 8, 16]
    assert np.frombuffer(rows.sample_bytes(1), np.float32).tolist() == [3.5, 4.5]


def test_sample_store_loads_gathers_and_unloads() -> None:
    dataset = CountingDataset(10)
    store = SampleStore(dataset, [TensorSpec("x", (4,), "int32")])  # fixed length: no cropping
    store.load([4, 2, 7])
    store.load([2, 9])  # 2 is already there: only 9 is read
    assert dataset.loads == [[4, 2, 7], [9]]
    got = store.gather(np.array([9, 4, 4, 7]))["x"]
    assert got[:, 0].tolist() == [9, 4, 4, 7] and got.shape == (4, 4)
    store.unload([4, 2, 7, 9])
    assert store.loaded_count == 0


def test_sequence_axis_is_cropped_to_the_longest_sample() -> None:
    dataset = CountingDataset(8, width=4)  # lengths 1,2,3,4,1,2,3,4
    store = SampleStore(dataset, [TensorSpec("x", (-1,), "int32", max_shape=(4,))])
    store.load(list(range(8)))
    assert store.gather(np.array([0, 4]))["x"].shape == (2, 1)
    assert store.gather(np.array([1, 2, 4]))["x"].shape == (3, 3)
    assert store.order_by_length(np.array([3, 0, 2, 1])).tolist() == [1, 3, 2, 0]


class EchoModel:
    """What a single-pass program asks of its model: a postprocess."""

    name = "echo"
    postprocess_reads_indices = False

    @staticmethod
    def postprocess(outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        return Responses.rows(outputs["y"])


def _slots(store: SampleStore, runners: list[EchoRunner], collected: list, batch_size: int) -> list[ProgramSlot]:
    """Single-pass programs on the runners, completing into ``collected`` as (id, answered value)."""
    def complete(responses: list) -> None:
        collected.extend((r.id, int(np.frombuffer(read_response(r), np.int64)[0])) for r in responses)

    completer = Completer(complete, lg.QuerySampleResponse, "echo", checked=False)
    setup = ProgramSetup(batch_size)
    return [ProgramSlot(SinglePass(EchoModel(), r, store, setup), i, completer, batch_size)  # type: ignore[arg-type]
            for i, r in enumerate(runners)]


def test_offline_cuts_the_query_into_batches_over_all_runners() -> None:
    store = SampleStore(CountingDataset(100), [TensorSpec("x", (4,), "int32")])
    store.load(list(range(100)))
    collected: list = []
    runners = [EchoRunner(), EchoRunner()]
    sut = OfflineSUT(_slots(store, runners, collected, 16), batch_size=16)
    ids = list(range(1000, 1100))
    indices = list(range(99, -1, -1))
    sut.issue(ids, indices)
    deadline = time.monotonic() + 10
    while len(collected) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    sut.stop()
    assert sorted(collected) == sorted(zip(ids, indices))  # every id answered with its own sample
    sizes = sorted(runners[0].batch_sizes + runners[1].batch_sizes)
    assert sizes == [4] + [16] * 6 and sut.slots[0].completer.calls == 7


def test_offline_orders_variable_length_samples_by_length() -> None:
    store = SampleStore(CountingDataset(8, width=4), [TensorSpec("x", (-1,), "int32", max_shape=(4,))])
    store.load(list(range(8)))
    collected: list = []
    runner = EchoRunner()
    sut = OfflineSUT(_slots(store, [runner], collected, 2), batch_size=2, store=store)
    sut.issue(list(range(8)), list(range(8)))
    deadline = time.monotonic() + 10
    while len(collected) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    sut.stop()
    # batches in length order: (0,4) len 1, (1,5) len 2, (2,6) len 3, (3,7) len 4
    assert [index for _, index in collected] == [0, 4, 1, 5, 2, 6, 3, 7]


def test_batcher_fills_a_batch_or_times_out() -> None:
    batcher = DynamicBatcher(max_batch=4, timeout_s=0.2)
    def take() -> list[tuple[int, int]]:
        got = batcher.take()
        assert got is not None
        return list(zip(got[0], got[1].tolist()))

    batcher.put([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert take() == [(1, 10), (2, 20), (3, 30), (4, 40)]  # full: no wait
    started = time.monotonic()
    assert take() == [(5, 50)]  # partial: waits for the timeout
    assert time.monotonic() - started >= 0.15
    result: list = []
    taker = threading.Thread(target=lambda: result.append(take()))
    taker.start()
    time.sleep(0.05)
    batcher.put([6, 7], [60, 70])
    started = time.monotonic()
    batcher.put([8, 9], [80, 90])  # fills the batch: the taker returns before its timeout
    taker.join(1)
    assert result == [[(6, 60), (7, 70), (8, 80), (9, 90)]] and time.monotonic() - started < 0.15
    batcher.stop()
    assert batcher.take() is None


@pytest.mark.parametrize("runners", [1, 3])
def test_server_sut_completes_every_query(runners: int) -> None:
    store = SampleStore(CountingDataset(50), [TensorSpec("x", (4,), "int32")])
    store.load(list(range(50)))
    collected: list = []
    sut = ServerSUT(_slots(store, [EchoRunner() for _ in range(runners)], collected, 8), batch_size=8,
                    batch_timeout_us=2000)
    for i in range(200):
        sut.issue([5000 + i], [i % 50])
    deadline = time.monotonic() + 10
    while len(collected) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    sut.stop()
    assert sorted(collected) == [(5000 + i, i % 50) for i in range(200)]
    assert sut.issued == 200


def test_response_packer_reuses_objects_and_copies_fixed_rows() -> None:
    from harness.scenarios.base import ResponsePacker

    packer = ResponsePacker(lg.QuerySampleResponse, max_batch=4)
    first = packer.pack([1, 2, 3], Responses.rows(np.array([10, 20, 30], dtype=np.int32)))
    assert [r.id for r in first] == [1, 2, 3]
    assert [int(np.frombuffer(read_response(r), np.int32)[0]) for r in first] == [10, 20, 30]
    objects = [id(r) for r in first]
    second = packer.pack([7, 8], Responses.rows(np.array([70, 80], dtype=np.int32)))
    assert [id(r) for r in second] == objects[:2]  # the same response objects, new ids and bytes
    assert [(r.id, int(np.frombuffer(read_response(r), np.int32)[0])) for r in second] == [(7, 70), (8, 80)]
    wide = packer.pack([5], Responses.rows(np.array([[1.0, 2.0]], dtype=np.float64)))  # new row size
    assert np.frombuffer(read_response(wide[0]), np.float64).tolist() == [1.0, 2.0]
    ragged = packer.pack([4, 6], Responses(np.arange(5, dtype=np.uint8), np.array([0, 2, 5])))
    assert [read_response(r) for r in ragged] == [bytes([0, 1]), bytes([2, 3, 4])]
