"""What both SUTs share: the completion callback programs call, response packing, and bookkeeping.

A ``Completer`` turns ``done(ids, responses)`` calls into QuerySamplesComplete calls and counts them. For
the harness's own single-pass program it does nothing per sample (the hot path: pooled response
objects per worker, one QuerySamplesComplete per batch). For every other program it checks each id: a
sample completed twice, one the program was never handed, or one a program returns or goes idle
without completing, fails the run with the model's and the program's names, so LoadGen is never left
waiting for a sample that will not come.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.errors import HarnessError
from models.program import Done, Program
from models.specs import Responses

CompleteFn = Callable[[list[Any]], None]


def pack_responses(ids: Sequence[int], responses: Responses, response_type: Any) -> list[Any]:
    """One new QuerySampleResponse per sample, pointing into the contiguous response array."""
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


class Completer:
    """Completes samples with LoadGen for every program of a run."""

    def __init__(self, complete: CompleteFn, response_type: Any, model_name: str, checked: bool) -> None:
        self._complete = complete
        self._type = response_type
        self.model_name = model_name
        # Per-sample bookkeeping for programs other than the built-in single pass: id -> program slot.
        self.checked = checked
        self._outstanding: dict[int, int] = {}
        self._lock = threading.Lock()
        self.completed = 0
        self.calls = 0
        self.error: BaseException | None = None
        self.error_text = ""

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            # A user-facing error says what to fix; anything else is a bug and keeps its traceback.
            self.error_text = str(exc) if isinstance(exc, HarnessError) else "".join(traceback.format_exception(exc))

    def _problem(self, program: str, what: str) -> HarnessError:
        error = HarnessError(f"model {self.model_name}: program {program} {what}",
                             "fix the model's program (models/<name>/program.py): every sample it is handed "
                             "must be completed exactly once")
        self.fail(error)
        return error

    # -- the callbacks programs get ---------------------------------------------
    def done_for(self, slot: "ProgramSlot", packer: ResponsePacker | None) -> Done:
        complete, response_type = self._complete, self._type
        lock = self._lock
        checked = self.checked
        program_name = type(slot.program).__name__

        def done(ids: Sequence[int], responses: Responses) -> None:
            if len(responses) != len(ids):
                raise self._problem(program_name, f"returned {len(responses)} responses for {len(ids)} samples")
            if checked:
                with lock:
                    unknown = [i for i in ids if self._outstanding.pop(i, None) is None]
                if unknown:
                    raise self._problem(program_name, f"completed sample id {unknown[0]} twice, or one it was "
                                                      f"never handed ({len(unknown)} such in this call)")
            packed = packer.pack(ids, responses) if packer is not None else \
                pack_responses(ids, responses, response_type)
            complete(packed)  # responses.data and the packer's buffer stay alive until this returns
            with lock:
                self.completed += len(ids)
                self.calls += 1

        return done

    # -- bookkeeping for checked programs ----------------------------------------
    def handed(self, ids: Sequence[int], slot_index: int) -> None:
        with self._lock:
            for i in ids:
                self._outstanding[i] = slot_index

    def check_returned(self, slot: "ProgramSlot", ids: Sequence[int]) -> None:
        """After run() of a program that completes within run(): every id handed must be gone."""
        with self._lock:
            left = [i for i in ids if i in self._outstanding]
        if left:
            raise self._problem(type(slot.program).__name__,
                                f"returned from run() without completing {len(left)} of the {len(ids)} "
                                "samples it was handed")

    def outstanding_in(self, slot_index: int) -> int:
        with self._lock:
            return sum(1 for s in self._outstanding.values() if s == slot_index)


class ProgramSlot:
    """One program on one runner, with the completion callback its thread uses."""

    def __init__(self, program: Program, index: int, completer: Completer, max_batch: int) -> None:
        self.program = program
        self.index = index
        self.completer = completer
        pooled = program.completes_in_run and program.batching == "harness"
        self._packer = ResponsePacker(completer._type, max_batch) if pooled else None
        self.done = completer.done_for(self, self._packer)
        self._checked = completer.checked
        self._in_run = 0
        self._idle_ticks = 0

    def run(self, ids: Sequence[int], qsl_indices: Any) -> None:
        """Hand samples to the program; exceptions are recorded for the run loop, which aborts the run."""
        self._in_run += 1
        try:
            if self._checked:
                self.completer.handed(ids, self.index)
            self.program.run(ids, qsl_indices, self.done)
            if self._checked and self.program.completes_in_run:
                self.completer.check_returned(self, ids)
        except BaseException as exc:
            self.completer.fail(exc)
        finally:
            self._in_run -= 1

    def stalled(self) -> str | None:
        """Called by the run loop a few times a second: a program that is idle (not in run(), not busy)
        yet holds samples it never completed, three looks in a row, is a broken program."""
        if not self._checked:
            return None
        failure = self.program.failure()
        if failure is not None:
            self.completer.fail(failure)
            return f"program {type(self.program).__name__} failed: {failure}"
        if self._in_run or self.program.busy() or not self.completer.outstanding_in(self.index):
            self._idle_ticks = 0
            return None
        self._idle_ticks += 1
        if self._idle_ticks < 3:
            return None
        left = self.completer.outstanding_in(self.index)
        error = self.completer._problem(type(self.program).__name__,
                                        f"is idle but never completed {left} sample(s) it was handed")
        return str(error.message)
