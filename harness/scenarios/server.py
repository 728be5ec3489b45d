"""Server SUT: a dynamic batcher (max batch size, timeout) feeding one worker per runner."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

import numpy as np

from harness.backends.base import Runner
from harness.qsl import SampleStore
from harness.scenarios.base import BatchExecutor


class DynamicBatcher:
    """Queue of (id, qsl index). A taker waits for the first sample, then up to ``timeout_s``
    more for the batch to fill; whoever adds the sample that fills a batch wakes a taker."""

    def __init__(self, max_batch: int, timeout_s: float) -> None:
        self.max_batch = max_batch
        self.timeout_s = timeout_s
        self._ids: deque[int] = deque()
        self._indices: deque[int] = deque()
        self._cv = threading.Condition(threading.Lock())
        self._stopped = False

    def put(self, ids: list[int], indices: list[int]) -> None:
        with self._cv:
            was_empty = not self._ids
            self._ids.extend(ids)
            self._indices.extend(indices)
            if was_empty or len(self._ids) >= self.max_batch:
                self._cv.notify()

    def take(self) -> tuple[list[int], np.ndarray] | None:
        """Block for the next batch (ids, qsl indices); None once stopped and drained."""
        with self._cv:
            queue = self._ids
            while not queue:
                if self._stopped:
                    return None
                self._cv.wait()
            if len(queue) < self.max_batch and self.timeout_s > 0:
                deadline = time.monotonic() + self.timeout_s
                while len(queue) < self.max_batch and not self._stopped:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cv.wait(remaining)
            if len(queue) <= self.max_batch:  # the common case: take everything
                ids = list(queue)
                indices = np.array(self._indices, dtype=np.int64)
                queue.clear()
                self._indices.clear()
            else:
                count = self.max_batch
                ids = [queue.popleft() for _ in range(count)]
                pop = self._indices.popleft
                indices = np.fromiter((pop() for _ in range(count)), dtype=np.int64, count=count)
                self._cv.notify()  # more work waiting: wake another taker
            return ids, indices

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()


class ServerSUT:
    scenario = "Server"

    def __init__(self, runners: Sequence[Runner], executor: BatchExecutor, batch_size: int,
                 batch_timeout_us: int, store: SampleStore | None = None) -> None:
        self.executor = executor
        self.batcher = DynamicBatcher(batch_size, batch_timeout_us / 1e6)
        self.issued = 0
        self._threads = [threading.Thread(target=self._worker, args=(r,), name=f"server-{i}", daemon=True)
                         for i, r in enumerate(runners)]
        for thread in self._threads:
            thread.start()

    def issue(self, ids: list[int], indices: list[int]) -> None:
        self.batcher.put(ids, indices)
        self.issued += len(ids)

    def flush(self) -> None:
        return None

    def _worker(self, runner: Runner) -> None:
        packer = self.executor.packer(self.batcher.max_batch)
        while True:
            batch = self.batcher.take()
            if batch is None:
                return
            ids, qsl_indices = batch
            try:
                self.executor.run(runner, ids, qsl_indices, packer)
            except BaseException as exc:  # reported by the run loop, which aborts the run
                self.executor.fail(exc)
                return

    def stop(self) -> None:
        self.batcher.stop()
        for thread in self._threads:
            thread.join(timeout=30)
