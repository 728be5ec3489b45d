"""TensorRT's logger: errors go to stderr, and the recent errors and warnings are kept so a failed
parse, build or load can be explained (diagnose.py). TRT_VERBOSE=1 prints everything."""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

from harness.backends.tensorrt.flavour import active

if TYPE_CHECKING:  # checked against TensorRT 10's stubs; at run time, the process's flavour
    import tensorrt as trt
else:
    trt = active().module



class CollectingLogger(trt.ILogger):
    def __init__(self) -> None:
        trt.ILogger.__init__(self)
        self.verbose = os.environ.get("TRT_VERBOSE", "") not in ("", "0")
        self._lock = threading.Lock()
        self._messages: list[str] = []

    def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
        level = int(severity)
        if level <= int(trt.ILogger.Severity.WARNING):
            with self._lock:
                self._messages.append(msg)
                del self._messages[:-200]
        if level <= int(trt.ILogger.Severity.ERROR) or self.verbose:
            print(f"[TensorRT] {msg}", file=sys.stderr, flush=True)

    def take(self) -> list[str]:
        """The errors and warnings logged since the last take()."""
        with self._lock:
            messages, self._messages = self._messages, []
        return messages


_LOGGER: CollectingLogger | None = None


def get_logger() -> CollectingLogger:
    """One logger per process (TensorRT keeps a reference to it in every builder and runtime)."""
    global _LOGGER
    if _LOGGER is None:
        _LOGGER = CollectingLogger()
    return _LOGGER
