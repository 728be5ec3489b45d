"""GPT-J 6B on CNN/DailyMail (MLPerf "gptj-99" and "gptj-99.9": same network and data, two ROUGE targets).

Samples are prompts (int32 token ids, ragged); the stock Generate program hands each to a generator runner
and completes it when its beam search ends. Backends build generators: torch from ``torch_generator()``
(the fast path by default, transformers' generate as the reference path), TensorRT-LLM from
``checkpoint_dir(cache_dir)``. See docs/gptj.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.common import say
from harness.errors import HarnessError
from harness.options import option
from models.base import (
    AccuracyEntry,
    AccuracyResult,
    Dataset,
    ModelSpec,
    Responses,
    TensorSpec,
    WeightsFile,
    check_entries,
)
from models.generation import Generate, GenerationParams
from models.gptj.dataset import FETCH_HINT
from models.gptj.preprocess import EOS_TOKEN, MAX_INPUT_TOKENS

# backend_PyTorch.py's gen_kwargs (beam 4 is the only value closed submissions may use), pad = EOS.
GENERATION = GenerationParams(num_beams=4, max_new_tokens=128, min_new_tokens=30, early_stopping=True,
                              eos_token_id=50256, pad_token_id=50256, max_input_tokens=MAX_INPUT_TOKENS)
GENERATORS = ("auto", "fast", "reference")
CHECKPOINT_URI = "https://inference.mlcommons-storage.org/metadata/gpt-j-model-checkpoint.uri"


@dataclass(frozen=True)
class GptjOptions:
    generator: str = option("auto", "torch generator: fast (own beam search over a static KV cache, CUDA graphs) "
                            "or reference (transformers' generate, static batches); auto = fast", choices=GENERATORS)
    kv_cache_fraction: float = option(0.9, "CUDA fast path: share of the GPU memory free after the weights that "
                                      "the KV cache may take", minimum=0.05, maximum=0.99)
    fit_batch_to_memory: bool = option(True, "CUDA fast path: run fewer slots than batch_size when their KV cache "
                                       "does not fit (false: that is an error)")
    cuda_graphs: bool = option(True, "CUDA fast path: replay each decode step as a CUDA graph")
    network: str = option("auto", "random weights: 6b (the real shape) or tiny (2 layers, hidden 64); auto = 6b "
                          "on a GPU, tiny on the CPU", choices=("auto", "6b", "tiny"))
    accuracy_log_dtype: str = option("int64", "dtype of the token ids in the accuracy log (evaluation.py --dtype)",
                                     choices=("int32", "int64"))


class GptJ(ModelSpec):
    name = "gptj"
    aliases = ("gpt-j", "gptj-6b")
    loadgen_name = "gptj"
    mlperf_names = ("gptj-99", "gptj-99.9")
    scenarios = ("Offline", "Server")
    sample_inputs = (TensorSpec("input_ids", (-1,), "int32", max_shape=(MAX_INPUT_TOKENS,)),)
    ragged = True
    network = None
    program = Generate
    generation = GENERATION
    options = GptjOptions
    artefacts = ("torch_generator", "checkpoint")
    weights_files = (
        WeightsFile("checkpoint", "gptj/checkpoint-final", CHECKPOINT_URI,
                    note="MLCommons' GPT-J 6B fine-tuned on CNN/DailyMail (fp32, about 23 GB); "
                         "python scripts/fetch_gptj_checkpoint.py"),
    )
    data_subdir = "cnndm"
    fetch_hint = FETCH_HINT
    demo_sample_count = 24
    calibration_list = "calibration/calibration-list.txt"

    def __init__(self, weights: Path | None = None, seed: int = 0, options: Any = None, on_gpu: bool = False) -> None:
        super().__init__(weights, seed, options, on_gpu)
        self.memory_plans: list[dict[str, Any]] = []
        self.generator_path = ""
        self.cpu_threads: int | None = None
        eos = self._tokenizer_eos()
        if eos != GENERATION.eos_token_id:
            # The demo tokenizer's end-of-text id: this instance (its generators, the null backend) decodes with it.
            self.generation = replace(GENERATION, eos_token_id=eos, pad_token_id=eos)  # type: ignore[misc]

    @classmethod
    def weights_hint(cls) -> str:
        return "python scripts/fetch_gptj_checkpoint.py"

    # -- tokenizer and network ----------------------------------------------------
    def tokenizer_dir(self) -> Path:
        """The checkpoint folder's tokenizer, or the demo tokenizer for random weights."""
        if self.weights is not None:
            return self.weights
        from models.gptj.demo import TOKENIZER_DIR

        return TOKENIZER_DIR

    def _tokenizer_eos(self) -> int:
        folder = self.tokenizer_dir()
        vocab = folder / "vocab.json"
        if not vocab.is_file():
            return GENERATION.eos_token_id  # reported properly when the tokenizer is opened
        added = folder / "added_tokens.json"
        table = json.loads(added.read_text()) if added.is_file() else {}
        return int(table.get(EOS_TOKEN, json.loads(vocab.read_text(encoding="utf-8")).get(EOS_TOKEN, -1)))

    @property
    def shape(self) -> Any:
        from models.gptj.network import SHAPES, shape_of_checkpoint

        if self.weights is not None:
            return shape_of_checkpoint(self.weights)
        wanted = self.opts.network
        if wanted == "auto":
            wanted = "6b" if self.on_gpu else "tiny"
        return SHAPES[wanted]

    def describe_weights(self) -> str:
        if self.weights is None:
            return (f"seeded random init (seed {self.seed}) of {self.shape.describe()}, demo tokenizer "
                    "(scores mean nothing)")
        return f"checkpoint {self.weights}"

    def _load(self, device: str, precision: str) -> Any:
        from models.gptj.network import load_network
        from models.gptj.preprocess import GptjTokenizer

        tokenizer = GptjTokenizer(self.tokenizer_dir())
        return load_network(self.weights, self.shape, tokenizer.vocab_size, tokenizer.eos_id, self.seed, device,
                            precision)

    def torch_generator(self, device: str, precision: str, slots: int) -> Any:
        path = "fast" if self.opts.generator == "auto" else self.opts.generator
        self.generator_path = path
        if device == "cpu" and self.weights is None and self.shape.name == "tiny":
            self._one_thread()
        model = self._load(device, precision)
        if path == "reference":
            from models.gptj.reference import ReferenceGenerate

            return ReferenceGenerate(model, self.generation, slots, device)
        from models.gptj.fast import FastBeamDecoder, FastWeights
        from models.gptj.network import generation_overrides

        changed = generation_overrides(self.weights) if self.weights is not None else {}
        if changed:
            raise HarnessError(f"{self.weights}/generation_config.json sets {changed}, which transformers' generate "
                               "applies and the fast path does not implement", "run --set generator=reference")
        weights = FastWeights(model)
        del model
        if device.startswith("cuda"):
            slots = self._plan_slots(device, weights, slots)
        return FastBeamDecoder(weights, self.generation, slots, use_cuda_graphs=self.opts.cuda_graphs)

    def _one_thread(self) -> None:
        """The tiny network's matrices are too small to split: torch's thread pool only adds waiting (ten
        times slower on two busy cores), so CPU demo runs use one thread."""
        import torch

        if torch.get_num_threads() != 1:
            say(f"GPT-J tiny network on the CPU: 1 torch thread (was {torch.get_num_threads()})")
            torch.set_num_threads(1)
        self.cpu_threads = 1

    def _plan_slots(self, device: str, weights: Any, requested: int) -> int:
        import torch

        from models.gptj.memory import plan_slots, slot_bytes

        torch.cuda.empty_cache()
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        p = self.generation
        per_slot = slot_bytes(weights.n_layer, weights.n_embd, weights.n_head, weights.vocab_size,
                              weights.wte.element_size(), p.num_beams, p.max_input_tokens, p.max_new_tokens)
        plan = plan_slots(device, requested, per_slot, int(free), self.opts.kv_cache_fraction,
                          self.opts.fit_batch_to_memory)
        self.memory_plans.append(plan.to_dict())
        return plan.slots

    def checkpoint_dir(self, cache_dir: Path) -> Path:
        from models.gptj.network import check_checkpoint, write_tiny_checkpoint

        if self.weights is not None:
            check_checkpoint(self.weights)
            return self.weights
        dest = cache_dir / "gptj" / f"tiny-random-seed{self.seed}"
        if not (dest / "config.json").is_file():
            write_tiny_checkpoint(dest, self.seed)
        return dest

    # -- data ---------------------------------------------------------------------
    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from models.gptj.dataset import CnnDailyMailDataset

        return CnnDailyMailDataset(data_dir, self.tokenizer_dir(), cache_dir / self.name,
                                   self.generation.max_input_tokens)

    def write_demo_data(self, dest: Path, count: int) -> None:
        from models.gptj.demo import write_demo_cnndm

        write_demo_cnndm(dest, count)

    # -- results --------------------------------------------------------------------
    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        dtype = self.opts.accuracy_log_dtype
        rows = outputs["output_ids"]
        return Responses.concat([np.asarray(row, dtype=dtype) for row in rows])

    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        from models.gptj import metric
        from models.gptj.dataset import CnnDailyMailDataset

        if not isinstance(dataset, CnnDailyMailDataset):
            raise TypeError(f"gptj scores CNN/DailyMail datasets, got {type(dataset).__name__}")
        check_entries(entries, dataset.total_count)
        kept = metric.dedup_first(entries)
        dtype = self.opts.accuracy_log_dtype
        predictions = [dataset.tokenizer.decode(metric.read_tokens(e.data, dtype)) for e in kept]
        targets = [dataset.targets[e.qsl_idx] for e in kept]
        scores = metric.rouge_scores(predictions, targets)
        metrics = {name: float(scores[key]) for key, name in metric.METRIC_NAMES.items()}
        metrics.update({"GEN_LEN": float(scores["gen_len"]), "GEN_NUM": float(scores["gen_num"])})
        result = AccuracyResult(metrics=metrics, report=metric.report_line(scores))
        result.notes.extend(dataset.notes)
        if dataset.is_demo:
            result.notes.append("demo articles are generated: the scores mean nothing")
        if self.uses_random_weights:
            result.notes.append("random weights: expect ROUGE near 0")
        if dataset.total_count != len(kept):
            result.notes.append(f"{len(kept)} of {dataset.total_count} samples scored (GEN_LEN sums those only)")
        return result

    def extra_record(self) -> dict[str, Any]:
        p = self.generation
        return {
            "network": self.shape.describe(),
            "network_config": self.shape.to_dict(),
            "generator": self.generator_path or "not built (no torch generator in this run)",
            "generation": {"num_beams": p.num_beams, "max_new_tokens": p.max_new_tokens,
                           "min_new_tokens": p.min_new_tokens, "early_stopping": p.early_stopping,
                           "eos_token_id": p.eos_token_id, "pad_token_id": p.pad_token_id,
                           "max_input_tokens": p.max_input_tokens},
            "accuracy_log_dtype": self.opts.accuracy_log_dtype,
            "accuracy_log_layout": "generated token ids per sample (EOS included when generation ended on it)",
            "tokenizer": str(self.tokenizer_dir()),
            "kv_cache": self.memory_plans,
            "cpu_threads": self.cpu_threads,
        }


MODEL = GptJ
