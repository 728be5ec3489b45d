"""A live progress line while LoadGen runs (it is otherwise silent until the end)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Call ``tick()`` often; it prints at most every ``interval_s`` (in place on a terminal)."""

    def __init__(self, counts: Callable[[], tuple[int, int]], stream: TextIO = sys.stderr,
                 interval_s: float | None = None) -> None:
        self._counts = counts
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._interval = interval_s if interval_s is not None else (1.0 if self._tty else 10.0)
        self._start = time.monotonic()
        self._last_print = self._start
        self._last_done = 0
        self._last_time = self._start
        self._printed = False

    def line(self) -> str:
        now = time.monotonic()
        issued, done = self._counts()
        window = now - self._last_time
        rate = (done - self._last_done) / window if window > 0 else 0.0
        self._last_done, self._last_time = done, now
        return f"[{now - self._start:7.1f} s] issued {issued:,}  completed {done:,}  rate {rate:,.1f}/s"

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_print < self._interval:
            return
        self._last_print = now
        text = self.line()
        if self._tty:
            self._stream.write("\r" + text + "   ")
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
        self._printed = True

    def finish(self) -> None:
        if self._printed and self._tty:
            self._stream.write("\n")
            self._stream.flush()
