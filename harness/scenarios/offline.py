"""Offline SUT: the whole query at once, spread over every runner's program.

Harness batching: the query is cut into batches of batch_size samples (ordered by length first for
models with a sequence axis). Program batching: each program gets one contiguous share of the query.
With one program, LoadGen's issue thread runs the work itself (Offline sends a single query, so that
thread has nothing else to do), saving a thread handoff per batch; with several, a worker thread each.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.qsl import SampleStore
from harness.scenarios.base import ProgramSlot


class OfflineSUT:
    scenario = "Offline"

    def __init__(self, slots: Sequence[ProgramSlot], batch_size: int, batch_timeout_us: int = 0,
                 store: SampleStore | None = None) -> None:
        self.slots = list(slots)
        first = self.slots[0].program
        self._harness_batching = first.batching == "harness"
        self._needs_indices = first.needs_indices
        # Variable-length models: sort the query by length so each batch pads to little.
        self._store = store if store is not None and store.lengths is not None else None
        self.batch_size = batch_size
        self.issued = 0
        self._work: list[queue.SimpleQueue[tuple[list[int], Any] | None]] = []
        self._inline = self.slots[0] if len(self.slots) == 1 else None
        self._threads = []
        if self._inline is None:
            shared: queue.SimpleQueue[tuple[list[int], Any] | None] = queue.SimpleQueue()
            for i, slot in enumerate(self.slots):
                # Harness batching: one queue all workers take from; program batching: one each.
                work = shared if self._harness_batching else queue.SimpleQueue()
                self._work.append(work)
                self._threads.append(threading.Thread(target=self._worker, args=(slot, work), name=f"offline-{i}",
                                                      daemon=True))
        for thread in self._threads:
            thread.start()

    # -- LoadGen callbacks (ConstructFastSUT) -------------------------------
    def issue(self, ids: list[int], indices: list[int]) -> None:
        self.issued += len(ids)
        if not self._needs_indices and self._store is None:
            self._dispatch(ids, indices)
            return
        qsl_indices = np.fromiter(indices, dtype=np.int64, count=len(indices))
        if self._store is not None:
            order = self._store.order_by_length(qsl_indices)
            qsl_indices = qsl_indices[order]
            ids = [ids[i] for i in order.tolist()]
        self._dispatch(ids, qsl_indices)

    def _dispatch(self, ids: list[int], qsl_indices: Any) -> None:
        if self._harness_batching:
            step = self.batch_size
            # Slices are cut as they are run: a query of millions of samples never holds all its
            # batches at once (thousands of live lists make every garbage collection pass longer).
            if self._inline is not None:
                slot = self._inline
                for start in range(0, len(ids), step):
                    slot.run(ids[start : start + step], qsl_indices[start : start + step])
                    if slot.completer.error is not None:
                        return
                return
            for start in range(0, len(ids), step):
                self._work[0].put((ids[start : start + step], qsl_indices[start : start + step]))
            return
        if self._inline is not None:
            self._inline.run(ids, qsl_indices)
            return
        share = -(-len(ids) // len(self.slots))
        for i, work in enumerate(self._work):
            part = (ids[i * share : (i + 1) * share], qsl_indices[i * share : (i + 1) * share])
            if part[0]:
                work.put(part)

    def flush(self) -> None:
        return None

    # -- workers ------------------------------------------------------------
    def _worker(self, slot: ProgramSlot, work: "queue.SimpleQueue[tuple[list[int], Any] | None]") -> None:
        while True:
            item = work.get()
            if item is None or slot.completer.error is not None:
                return
            slot.run(*item)

    def stop(self) -> None:
        for work in self._work:
            work.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
