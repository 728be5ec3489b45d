"""What both SUTs share: counters, batch execution on a runner, and response packing."""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.backends.base import Runner
from harness.qsl import SampleStore
from models.base import Responses

CompleteFn = Callable[[list[Any]], None]


def pack_responses(ids: Sequence[int], responses: Responses, response_type: Any) -> list[Any]:
    """One new QuerySampleResponse per sample, pointing into the batch's contiguous response array."""
    base = responses.data.__array_interface__["data"][0]
    offsets = responses.offsets
    starts = (offsets[:-1] + base).tolist()
    sizes = np.diff(offsets).tolist()
    return [response_type(i, s, n) for i, s, n in zip(ids, starts, sizes)]


class ResponsePacker:
    """Per worker: QuerySampleResponse objects reused from batch to batch.

    Fixed-size responses are copied into a staging buffer owned by the packer, so every
    pooled response keeps its data pointer and only its id changes per batch (a third of
    the cost of building new response objects). Variable-size responses take the general path.
    The staging buffer is reused by the next batch: completion must happen before that.
    """

    def __init__(self, response_type: Any, max_batch: int) -> None:
        self._type = response_type
        self._pool = [response_type(0, 0, 0) for _ in range(max_batch)]
        self._set_id = response_type.id.fset
        self._buffer = np.zeros(0, dtype=np.uint8)
        self._row = -1

    def pack(self, ids: Sequence[int], responses: Responses) -> list[Any]:
        count = len(ids)
        offsets = responses.offsets
        row = int(offsets[1] - offsets[0]) if count else 0
        if count > len(self._pool) or (count and int(offsets[-1]) != row * count):
            return pack_responses(ids, responses, self._type)
        raw = responses.data.reshape(-1).view(np.uint8)
        if row * count > len(self._buffer) or row != self._row:
            self._buffer = np.zeros(max(row * len(self._pool), 1), dtype=np.uint8)
            base = self._buffer.__array_interface__["data"][0]
            for k, response in enumerate(self._pool):
                response.data = base + k * row
                response.size = row
            self._row = row
        self._buffer[: row * count] = raw[: row * count]
        pool = self._pool
        # The property setter mapped over the pool: a C-level loop, ~25% faster than a Python for-loop.
        deque(map(self._set_id, pool, ids), maxlen=0)
        return pool if count == len(pool) else pool[:count]


class BatchExecutor:
    """Runs one batch on a runner and completes its samples with a single QuerySamplesComplete."""

    def __init__(self, store: SampleStore, postprocess: Callable[[dict[str, np.ndarray], np.ndarray], Responses],
                 consumes_inputs: bool, complete: CompleteFn, response_type: Any,
                 postprocess_reads_indices: bool = True) -> None:
        self._store = store
        # Whether a batch's QSL indices are read at all (gathering inputs, or a postprocess that names
        # its samples); when not, the SUTs skip turning LoadGen's index lists into arrays.
        self.needs_indices = consumes_inputs or postprocess_reads_indices
        self._postprocess = postprocess
        self._consumes_inputs = consumes_inputs
        self._complete = complete
        self._response_type = response_type
        self.completed = 0
        self.batches = 0
        self.error: BaseException | None = None
        self.error_text = ""
        self._count_lock = threading.Lock()

    def packer(self, max_batch: int) -> ResponsePacker:
        """A packer for one worker thread (its pooled responses must not be shared)."""
        return ResponsePacker(self._response_type, max_batch)

    def run(self, runner: Runner, ids: Sequence[int], qsl_indices: np.ndarray | Sequence[int],
            packer: ResponsePacker | None = None) -> None:
        """One batch. ``qsl_indices`` is an int64 array when ``needs_indices``; otherwise LoadGen's
        list is passed through unread."""
        if self._consumes_inputs:
            outputs = runner.infer_samples(self._store, np.asarray(qsl_indices), len(ids))
        else:
            outputs = runner.infer({}, len(ids))
        responses = self._postprocess(outputs, qsl_indices)  # type: ignore[arg-type]
        if len(responses) != len(ids):
            raise RuntimeError(f"postprocess returned {len(responses)} responses for {len(ids)} samples")
        if packer is None:
            packed = pack_responses(ids, responses, self._response_type)
        else:
            packed = packer.pack(ids, responses)
        self._complete(packed)  # responses.data and the packer's buffer stay alive until this returns
        with self._count_lock:
            self.completed += len(ids)
            self.batches += 1

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            self.error_text = "".join(traceback.format_exception(exc))
