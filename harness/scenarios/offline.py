"""Offline SUT: the whole query is cut into batches and spread over every runner."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

import numpy as np

from harness.backends.base import Runner
from harness.qsl import SampleStore
from harness.scenarios.base import BatchExecutor


class OfflineSUT:
    scenario = "Offline"

    def __init__(self, runners: Sequence[Runner], executor: BatchExecutor, batch_size: int,
                 batch_timeout_us: int = 0, store: SampleStore | None = None) -> None:
        self.executor = executor
        # Variable-length models: sort the query by length so each batch pads to little.
        self._store = store if store is not None and store.lengths is not None else None
        self.batch_size = batch_size
        self.issued = 0
        self._work: queue.SimpleQueue[tuple[list[int], np.ndarray | list[int]] | None] = queue.SimpleQueue()
        # One runner: LoadGen's issue thread runs the batches itself (Offline sends a single query, so
        # that thread has nothing else to do), saving a thread handoff per batch. Several runners: a
        # worker thread each, fed from one queue.
        self._inline = runners[0] if len(runners) == 1 else None
        self._inline_packer = executor.packer(batch_size) if self._inline is not None else None
        self._threads = [] if self._inline is not None else [
            threading.Thread(target=self._worker, args=(r,), name=f"offline-{i}", daemon=True)
            for i, r in enumerate(runners)]
        for thread in self._threads:
            thread.start()

    # -- LoadGen callbacks (ConstructFastSUT) -------------------------------
    def issue(self, ids: list[int], indices: list[int]) -> None:
        if not self.executor.needs_indices and self._store is None:
            self._dispatch(ids, indices)
            return
        qsl_indices = np.fromiter(indices, dtype=np.int64, count=len(indices))
        if self._store is not None:
            order = self._store.order_by_length(qsl_indices)
            qsl_indices = qsl_indices[order]
            ids = [ids[i] for i in order.tolist()]
        self._dispatch(ids, qsl_indices)

    def _dispatch(self, ids: list[int], qsl_indices: np.ndarray | list[int]) -> None:
        """Cut the query into batches: run them here (one runner) or queue them for the workers."""
        step = self.batch_size
        self.issued += len(ids)
        if self._inline is not None:
            try:
                for start in range(0, len(ids), step):
                    self.executor.run(self._inline, ids[start : start + step], qsl_indices[start : start + step],
                                      self._inline_packer)
            except BaseException as exc:  # reported by the run loop, which aborts the run
                self.executor.fail(exc)
            return
        for start in range(0, len(ids), step):
            self._work.put((ids[start : start + step], qsl_indices[start : start + step]))

    def flush(self) -> None:
        return None

    # -- workers ------------------------------------------------------------
    def _worker(self, runner: Runner) -> None:
        packer = self.executor.packer(self.batch_size)
        while True:
            item = self._work.get()
            if item is None:
                return
            try:
                self.executor.run(runner, item[0], item[1], packer)
            except BaseException as exc:  # reported by the run loop, which aborts the run
                self.executor.fail(exc)
                return

    def stop(self) -> None:
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
