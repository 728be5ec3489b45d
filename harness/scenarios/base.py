"""What both SUTs share: counters, batch execution on a runner, and response packing."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.backends.base import Runner
from harness.qsl import SampleStore
from models.base import Responses

CompleteFn = Callable[[list[Any]], None]


def pack_responses(ids: Sequence[int], responses: Responses, response_type: Any) -> list[Any]:
    """One QuerySampleResponse per sample, pointing into the batch's contiguous response array."""
    base = responses.data.__array_interface__["data"][0]
    offsets = responses.offsets
    starts = (offsets[:-1] + base).tolist()
    sizes = np.diff(offsets).tolist()
    return [response_type(i, s, n) for i, s, n in zip(ids, starts, sizes)]


class BatchExecutor:
    """Runs one batch on a runner and completes its samples with a single QuerySamplesComplete."""

    def __init__(self, store: SampleStore, postprocess: Callable[[dict[str, np.ndarray]], Responses],
                 consumes_inputs: bool, complete: CompleteFn, response_type: Any) -> None:
        self._store = store
        self._postprocess = postprocess
        self._consumes_inputs = consumes_inputs
        self._complete = complete
        self._response_type = response_type
        self.completed = 0
        self.batches = 0
        self.error: BaseException | None = None
        self.error_text = ""
        self._count_lock = threading.Lock()

    def run(self, runner: Runner, ids: Sequence[int], qsl_indices: np.ndarray) -> None:
        if self._consumes_inputs:
            outputs = runner.infer_samples(self._store, qsl_indices, len(ids))
        else:
            outputs = runner.infer({}, len(ids))
        responses = self._postprocess(outputs)
        if len(responses) != len(ids):
            raise RuntimeError(f"postprocess returned {len(responses)} responses for {len(ids)} samples")
        packed = pack_responses(ids, responses, self._response_type)
        self._complete(packed)  # responses.data stays referenced until this returns
        with self._count_lock:
            self.completed += len(ids)
            self.batches += 1

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            self.error_text = "".join(traceback.format_exception(exc))
