"""TensorRT backend: engines built from the model's ONNX, cached under build/engines/, run with
several execution contexts and CUDA streams on every GPU.

The TensorRT module comes from ``flavour`` only (``tensorrt`` 10.x / 11.x, or ``tensorrt_rtx``).
``loader``, ``flavour``, ``plans`` and the pure helpers (``engine_cache``, ``profiles``,
``calibration``, ``diagnose``, ``typed_onnx``) import without TensorRT; ``builder``, ``calibrator``,
``trt_logger`` and ``runner`` bind the process's TensorRT module when imported and are themselves
imported lazily. Device memory comes from torch CUDA tensors.
"""
