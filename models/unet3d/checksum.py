"""The md5 that MLCommons' meta/checksum_inference.json lists for a preprocessed case.

The reference writes each case as ``pickle.dump([image, label], f)`` (default protocol 4, NumPy 1.x) and
lists the md5 of that file. Here the same byte stream is produced without writing it: Python's own
pickler with one difference from today's NumPy, whose arrays name their rebuild function
``numpy._core.multiarray._reconstruct`` where NumPy 1.x wrote ``numpy.core.multiarray._reconstruct``.
Everything else (array and dtype reduce tuples, framing, memo) is what the reference's Python wrote.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import numpy as np

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_REFERENCE_MODULE = "numpy.core.multiarray"
# The pure-Python pickler (the C one offers no hook for how a global is named); typeshed omits it.
_PythonPickler: Any = pickle._Pickler  # type: ignore[attr-defined]


class _Md5Sink:
    def __init__(self) -> None:
        self.digest = hashlib.md5()

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return len(data)


class _ReferencePickler(_PythonPickler):
    def save_global(self, obj: Any, name: Any = None) -> None:
        if obj is not _RECONSTRUCT:
            super().save_global(obj, name)
            return
        # What save_global writes for protocol >= 4, under the module name NumPy 1.x used.
        self.save(_REFERENCE_MODULE)
        self.save("_reconstruct")
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def reference_pickle_bytes(image: np.ndarray, label: np.ndarray) -> bytes:
    """The whole file the reference would write (tests and small volumes)."""
    chunks: list[bytes] = []

    class _Collect:
        def write(self, data: Any) -> int:
            chunks.append(bytes(data))
            return len(data)

    _ReferencePickler(_Collect(), protocol=4).dump([image, label])
    return b"".join(chunks)


def reference_md5(image: np.ndarray, label: np.ndarray) -> str:
    """md5 of ``pickle.dump([image, label])`` as the reference's preprocess.py writes it."""
    sink = _Md5Sink()
    _ReferencePickler(sink, protocol=4).dump([image, label])
    return sink.digest.hexdigest()
