"""toy-counter: continue a count. A prompt (target, start) asks for start+1, start+2, ... target.

The "language model" (network.py) scores the next token from the last one; a torch step decoder runs
beam search over it with fixed slots, so prompts join and leave a running batch; the stock Generate
program completes each sample the moment its generation finishes. Prompts ask for counts of different
lengths, so samples finish out of order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.base import AccuracyEntry, AccuracyResult, Dataset, ModelSpec, Responses, TensorSpec
from models.generation import Generate, GenerationParams

VOCAB = 32
EOS = 0


class ToyCounter(ModelSpec):
    name = "toy-counter"
    aliases = ("toy_counter",)
    loadgen_name = "toy_counter"
    mlperf_names = ("toy-counter",)
    scenarios = ("Offline", "Server")
    sample_inputs = (TensorSpec("input_ids", (2,), "int32"),)
    program = Generate
    artefacts = ("torch_generator",)
    generation = GenerationParams(num_beams=2, max_new_tokens=24, min_new_tokens=1, early_stopping=True,
                                  eos_token_id=EOS, pad_token_id=EOS, max_input_tokens=2)
    data_subdir = "toy_counter"
    fetch_hint = "its demo generator (no real dataset exists)"
    demo_sample_count = 32
    own_rules = {"performance_sample_count": 32, "offline_min_query_count": 32, "scenarios": ["Offline", "Server"],
                 "server_target_latency_ms": 1000, "accuracy_targets": {"toy-counter": {"exact_match": 99.0}}}

    @property
    def uses_random_weights(self) -> bool:
        return False

    def describe_weights(self) -> str:
        return "fixed counting model"

    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from toy_counter.dataset import PromptDataset

        return PromptDataset(data_dir)

    def write_demo_data(self, dest: Path, count: int) -> None:
        from toy_counter.dataset import write_prompts

        write_prompts(dest, count)

    def torch_generator(self, device: str, precision: str, slots: int) -> Any:
        from toy_counter.network import BeamCounter

        assert self.generation is not None
        return BeamCounter(self.generation, slots, device)

    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        return Responses.concat([np.asarray(row, dtype=np.int32) for row in outputs["output_ids"]])

    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        from toy_counter.dataset import expected_tokens

        seen: dict[int, np.ndarray] = {}
        for entry in entries:
            seen.setdefault(entry.qsl_idx, np.frombuffer(entry.data, dtype=np.int32))
        prompts = dataset.prompts  # type: ignore[attr-defined]
        good = sum(int(np.array_equal(tokens, expected_tokens(prompts[i]))) for i, tokens in seen.items())
        score = 100.0 * good / max(len(seen), 1)
        return AccuracyResult({"exact_match": score}, f"exact_match={score:.2f}%, samples={len(seen)}")


MODEL = ToyCounter
