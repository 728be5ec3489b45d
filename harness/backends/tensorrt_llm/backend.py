"""TensorRT-LLM backend: a generator runner over TensorRT-LLM's LLM API, built from the model's checkpoint folder.

The engine is built once per process (no engine cache across runs yet) through the LLM API's
TensorRT flow with the model's generation limits: beam width num_beams, longest prompt max_input_tokens,
max_input_tokens + max_new_tokens positions, batch_size requests in flight. Precision: FP8 weights and FP8
KV cache on Hopper and Ada (compute capability 8.9 and up), calibrated on the MLPerf calibration file when
``calibration_file`` is given; FP16 elsewhere (A100 has no FP8). Each prompt is one ``generate_async``
request with the reference's beam search (num_beams, min/max new tokens, early stopping, length penalty 1);
TensorRT-LLM batches requests in flight, so each sample completes on its own.

tensorrt_llm is imported only when this backend is built; without it, availability() says so and the
run stops with a HarnessError before anything is built. This module has never run: no machine the
project has carries TensorRT-LLM (see docs/gptj.md).
"""

from __future__ import annotations

import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends.base import Backend, BackendContext, BackendInfo, GeneratorRunner, Runner
from harness.errors import HarnessError
from harness.options import option
from models.base import ModelSpec
from models.generation import OnDone

INSTALL_HINT = ("install NVIDIA's tensorrt-llm wheel from NVIDIA's package index (TensorRT-LLM's install guide) or "
                "use an NGC TensorRT-LLM container; --backend torch runs GPT-J without it")


@dataclass(frozen=True)
class TensorRTLLMOptions:
    kv_cache_free_gpu_memory_fraction: float = option(0.9, "share of free GPU memory TensorRT-LLM's paged KV cache "
                                                      "takes", minimum=0.05, maximum=0.99)
    calibration_file: str | None = option(None, "FP8: calibration data handed to TensorRT-LLM's CalibConfig "
                                          "(calib_dataset), e.g. what scripts/fetch_cnndm.py --calibration wrote")


def import_tensorrt_llm() -> Any:
    try:
        import tensorrt_llm
    except ImportError as exc:
        raise HarnessError(f"the tensorrt-llm backend needs the tensorrt_llm package, which does not import here "
                           f"({exc})", INSTALL_HINT) from None
    return tensorrt_llm


class TensorRTLLMGenerator(GeneratorRunner):
    """Requests handed to the LLM's in-flight batcher; a pool thread waits on each and reports it."""

    def __init__(self, llm: Any, sampling: Any, device: str, max_in_flight: int) -> None:
        self.llm = llm
        self.sampling = sampling
        self.device = device
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_in_flight), thread_name_prefix="trtllm")
        self._cv = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None

    def submit(self, request_id: int, prompt: np.ndarray, on_done: OnDone) -> None:
        future = self.llm.generate_async([int(t) for t in np.asarray(prompt)], sampling_params=self.sampling)
        with self._cv:
            self._pending += 1
        self._pool.submit(self._wait, request_id, future, on_done)

    def _wait(self, request_id: int, future: Any, on_done: OnDone) -> None:
        try:
            output = future.result()
            on_done(request_id, np.asarray(output.outputs[0].token_ids, dtype=np.int64))
        except BaseException as exc:  # reported through failure()
            with self._cv:
                self._error = self._error or exc
        finally:
            with self._cv:
                self._pending -= 1
                self._cv.notify_all()

    def busy(self) -> bool:
        return self._error is None and self._pending > 0

    def failure(self) -> BaseException | None:
        return self._error

    def drain(self) -> None:
        with self._cv:
            self._cv.wait_for(lambda: not self.busy())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class TensorRTLLMBackend(Backend):
    name = "tensorrt-llm"
    Options = TensorRTLLMOptions
    offers = ("generator",)
    consumes = {"generator": ("checkpoint",)}
    weights_kinds = ("checkpoint",)

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("tensorrt_llm") is None:
            return False, "the tensorrt_llm package is not installed (" + INSTALL_HINT + ")"
        return True, ""

    def __init__(self, model: ModelSpec, context: BackendContext, options: Any = None) -> None:
        super().__init__(model, context, options)
        self.trtllm = import_tensorrt_llm()
        if context.device == "cpu":
            raise HarnessError("TensorRT-LLM runs on NVIDIA GPUs only, and --device cpu was given",
                               "use --backend torch on the CPU")
        if model.generation is None:
            raise HarnessError(f"model {model.name} declares no generation parameters for TensorRT-LLM")
        import torch

        if not torch.cuda.is_available():
            raise HarnessError("TensorRT-LLM needs a CUDA GPU, and torch sees none", "check nvidia-smi")
        major, minor = torch.cuda.get_device_capability(0)
        supports_fp8 = (major, minor) >= (8, 9)
        self.notes: list[str] = []
        self.fp8 = context.precision == "fp8" and supports_fp8
        if context.precision == "fp8" and not supports_fp8:
            self.notes.append(f"FP8 needs compute capability 8.9+ (this GPU is {major}.{minor}): running FP16")
        self.precision = "fp8" if self.fp8 else "fp16"
        self.checkpoint: Path = model.checkpoint_dir(context.cache_dir)
        self._llm: Any = None

    def devices(self) -> list[str]:
        return ["cuda:0"]  # one LLM instance; TensorRT-LLM itself spreads tensor-parallel ranks

    def _build(self) -> Any:
        llmapi = importlib.import_module("tensorrt_llm.llmapi")
        p = self.model.generation
        assert p is not None
        build = llmapi.BuildConfig(max_batch_size=self.context.max_batch_size, max_beam_width=p.num_beams,
                                   max_input_len=p.max_input_tokens,
                                   max_seq_len=p.max_input_tokens + p.max_new_tokens)
        kwargs: dict[str, Any] = {
            "model": str(self.checkpoint), "dtype": "float16", "build_config": build,
            "kv_cache_config": llmapi.KvCacheConfig(
                free_gpu_memory_fraction=self.options.kv_cache_free_gpu_memory_fraction),
        }
        if self.fp8:
            kwargs["quant_config"] = llmapi.QuantConfig(quant_algo=llmapi.QuantAlgo.FP8,
                                                        kv_cache_quant_algo=llmapi.QuantAlgo.FP8)
            if self.options.calibration_file:
                kwargs["calib_config"] = llmapi.CalibConfig(calib_dataset=self.options.calibration_file)
        engine_llm = importlib.import_module("tensorrt_llm._tensorrt_engine").LLM  # the TensorRT engine flow
        return engine_llm(**kwargs)

    def create_runner(self, device: str, stream_index: int) -> Runner:
        if self._llm is None:
            self._llm = self._build()
        p = self.model.generation
        assert p is not None
        sampling = self.trtllm.SamplingParams(
            max_tokens=p.max_new_tokens, min_tokens=p.min_new_tokens, n=1, best_of=p.num_beams,
            use_beam_search=p.num_beams > 1, early_stopping=1 if p.early_stopping else 0, length_penalty=1.0,
            end_id=p.eos_token_id, pad_id=p.pad_token_id)
        return TensorRTLLMGenerator(self._llm, sampling, device, self.context.max_batch_size)

    def info(self) -> BackendInfo:
        version = str(getattr(self.trtllm, "__version__", "unknown"))
        return BackendInfo(self.name, self.devices(), self.precision, {"tensorrt_llm": version}, list(self.notes),
                           {"checkpoint": str(self.checkpoint), "fp8_kv_cache": self.fp8})
