"""An MLPerf Inference harness for local NVIDIA GPUs (and CPUs), driven by the real LoadGen."""

__version__ = "0.1.0"
