"""A generator runner around a model's torch generator, on a thread of its own.

With a ``StepDecoder`` it batches continuously: between decode steps, queued prompts are admitted into
free slots, and each request is reported the moment its sequence finishes, so a Server run never waits
for the longest generation of a batch. With a ``BatchGenerate`` it takes up to ``max_batch`` queued
prompts at a time (static batches).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from harness.backends.base import GeneratorRunner
from models.generation import BatchGenerate, OnDone, StepDecoder


class SlotGenerator(GeneratorRunner):
    def __init__(self, engine: Any, device: str, name: str = "generator") -> None:
        if not isinstance(engine, (StepDecoder, BatchGenerate)):
            raise TypeError(f"{type(engine).__name__} is neither a StepDecoder nor a BatchGenerate")
        self.engine = engine
        self.device = device
        self._queue: deque[tuple[int, np.ndarray, OnDone]] = deque()
        self._cv = threading.Condition()
        self._active = 0  # requests admitted and not yet reported
        self._stopped = False
        self._error: BaseException | None = None
        self.steps = 0
        self.completed = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- GeneratorRunner ------------------------------------------------------
    def submit(self, request_id: int, prompt: np.ndarray, on_done: OnDone) -> None:
        with self._cv:
            if self._error is not None:
                raise RuntimeError("the generator stopped after an error") from self._error
            self._queue.append((request_id, prompt, on_done))
            self._cv.notify()

    def busy(self) -> bool:
        return self._error is None and (bool(self._queue) or self._active > 0)

    def failure(self) -> BaseException | None:
        return self._error

    def drain(self) -> None:
        with self._cv:
            self._cv.wait_for(lambda: not self.busy())

    def close(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._thread.join(timeout=30)

    # -- the loop ---------------------------------------------------------------
    def _loop(self) -> None:
        try:
            if isinstance(self.engine, StepDecoder):
                self._continuous(self.engine)
            else:
                self._static(self.engine)
        except BaseException as exc:  # reported through failure(); the run loop stops the run
            with self._cv:
                self._error = exc
                self._cv.notify_all()

    def _next_work(self, have_active: bool) -> bool:
        """Wait until there is something to do; False once stopped."""
        with self._cv:
            while not self._queue and not have_active:
                if self._stopped:
                    return False
                self._cv.wait()
            return not self._stopped

    def _continuous(self, engine: StepDecoder) -> None:
        free = list(range(engine.slots))[::-1]
        owner: dict[int, tuple[int, OnDone]] = {}
        while self._next_work(bool(owner)):
            while free:
                with self._cv:
                    if not self._queue:
                        break
                    request_id, prompt, on_done = self._queue.popleft()
                    self._active += 1
                slot = free.pop()
                owner[slot] = (request_id, on_done)
                engine.admit(slot, prompt)
            finished = engine.step()
            self.steps += 1
            for slot, tokens in finished:
                request_id, on_done = owner.pop(slot)
                free.append(slot)
                self._report(request_id, tokens, on_done)

    def _static(self, engine: BatchGenerate) -> None:
        while self._next_work(False):
            with self._cv:
                batch = [self._queue.popleft() for _ in range(min(engine.max_batch, len(self._queue)))]
                self._active += len(batch)
            outputs = engine([prompt for _, prompt, _ in batch])
            self.steps += 1
            for (request_id, _, on_done), tokens in zip(batch, outputs):
                self._report(request_id, tokens, on_done)

    def _report(self, request_id: int, tokens: np.ndarray, on_done: OnDone) -> None:
        try:
            on_done(request_id, np.asarray(tokens))
        finally:
            with self._cv:
                self._active -= 1
                self.completed += 1
                self._cv.notify_all()
