"""TensorRT backend: engines built from the model's ONNX, cached under build/engines/, run with
several execution contexts and CUDA streams on every GPU.

Only ``loader`` and the pure helpers (``engine_cache``, ``profiles``, ``calibration``, ``diagnose``)
import without TensorRT; ``builder``, ``calibrator``, ``trt_logger`` and ``runner`` import it at the
top and are themselves imported lazily by ``backend``. Device memory comes from torch CUDA tensors.
"""
