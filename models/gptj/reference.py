"""The reference path: transformers' GPTJForCausalLM.generate, as MLCommons' backend_PyTorch.py calls it.

A ``BatchGenerate``: each call left-pads up to ``max_batch`` prompts with the pad (= EOS) id, masks the padding,
and runs beam search with the reference's arguments (num_beams 4, max_new_tokens 128, min_new_tokens 30,
early_stopping True, pad_token_id = EOS). generate derives position ids from the mask, so a padded prompt
sees the positions it would alone. Each output is cut after the prompt (the reference's
``data[source_len:]``) and after its first EOS: the padding that a batch adds past a shorter answer goes,
which leaves exactly the ids a batch of one returns. It is the correctness yardstick of the fast path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import HarnessError
from models.generation import GenerationParams


def generate_kwargs(params: GenerationParams) -> dict[str, Any]:
    """backend_PyTorch.py's gen_kwargs plus its pad_token_id."""
    return {"num_beams": params.num_beams, "max_new_tokens": params.max_new_tokens,
            "min_new_tokens": params.min_new_tokens, "early_stopping": params.early_stopping,
            "pad_token_id": params.pad_token_id, "eos_token_id": params.eos_token_id}


def trim_generated(row: np.ndarray, eos_token_id: int) -> np.ndarray:
    """A sample's generated ids up to and including its first EOS (all of them when it has none)."""
    hits = np.flatnonzero(row == eos_token_id)
    return row[: hits[0] + 1] if hits.size else row


def check_prompt(prompt: np.ndarray, max_tokens: int) -> None:
    """A prompt a GPT-J generator can take: non-empty 1-D token ids, at most ``max_tokens`` of them."""
    if prompt.ndim != 1 or prompt.size == 0:
        raise HarnessError(f"a GPT-J prompt must be a non-empty 1-D array of token ids, got shape {prompt.shape}")
    if prompt.size > max_tokens:
        raise HarnessError(f"a prompt of {prompt.size} tokens is longer than the generator's maximum of "
                           f"{max_tokens}", "prompts are cut to 1,919 tokens by the dataset: check the data the QSL "
                           "was given")


class ReferenceGenerate:
    """transformers' generate over static batches of prompts (models.generation.BatchGenerate)."""

    def __init__(self, model: Any, params: GenerationParams, max_batch: int, device: str) -> None:
        self.model = model
        self.params = params
        self.max_batch = max_batch
        self.device = device
        self.kwargs = generate_kwargs(params)

    def check_prompt(self, prompt: np.ndarray) -> None:
        check_prompt(prompt, self.params.max_input_tokens)

    def __call__(self, prompts: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        if not prompts:
            return []
        for prompt in prompts:
            self.check_prompt(np.asarray(prompt))
        longest = max(len(p) for p in prompts)
        ids = np.full((len(prompts), longest), self.params.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(prompts), longest), dtype=np.int64)
        for row, prompt in enumerate(prompts):
            ids[row, longest - len(prompt):] = prompt
            mask[row, longest - len(prompt):] = 1
        with torch.inference_mode():
            out = self.model.generate(input_ids=torch.from_numpy(ids).to(self.device),
                                      attention_mask=torch.from_numpy(mask).to(self.device), **self.kwargs)
        generated = out[:, longest:].cpu().numpy()
        return [trim_generated(row, self.params.eos_token_id) for row in generated]
