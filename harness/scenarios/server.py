"""Server SUT: queries as they arrive, batched by the harness (a dynamic batcher) or by the program."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

import numpy as np

from harness.qsl import SampleStore
from harness.scenarios.base import ProgramSlot


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
    """Harness batching: a dynamic batcher (max batch size, timeout) feeding one worker per program.
    Program batching: each LoadGen query goes straight to a program (round robin), which batches itself;
    a program that answers later gets it on LoadGen's issue thread, one that answers within run() on
    its worker thread."""

    scenario = "Server"

    def __init__(self, slots: Sequence[ProgramSlot], batch_size: int, batch_timeout_us: int,
                 store: SampleStore | None = None) -> None:
        self.slots = list(slots)
        first = self.slots[0].program
        self._direct = first.batching == "program" and not first.completes_in_run
        self.batcher = DynamicBatcher(batch_size, batch_timeout_us / 1e6)
        self.issued = 0
        self._next = 0
        self._threads = [] if self._direct else [
            threading.Thread(target=self._worker, args=(slot,), name=f"server-{i}", daemon=True)
            for i, slot in enumerate(self.slots)]
        for thread in self._threads:
            thread.start()

    def issue(self, ids: list[int], indices: list[int]) -> None:
        self.issued += len(ids)
        if self._direct:
            slot = self.slots[self._next]
            self._next = (self._next + 1) % len(self.slots)
            slot.run(ids, np.fromiter(indices, dtype=np.int64, count=len(indices)))
            return
        self.batcher.put(ids, indices)

    def flush(self) -> None:
        return None

    def _worker(self, slot: ProgramSlot) -> None:
        while True:
            batch = self.batcher.take()
            if batch is None or slot.completer.error is not None:
                return
            slot.run(*batch)

    def stop(self) -> None:
        self.batcher.stop()
        for thread in self._threads:
            thread.join(timeout=30)
