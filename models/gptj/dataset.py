"""CNN/DailyMail 3.0.0 validation as MLCommons prepares it: cnn_eval.json, one folder.

cnn_eval.json (``python scripts/fetch_cnndm.py``, the reference's download_cnndm.py) is a JSON list of
13,368 records ``{"instruction", "input", "output"}``: the instruction "Summarize the following news
article:", the article and its highlights. Each record becomes the reference's Alpaca-style prompt,
tokenized with the checkpoint's tokenizer and cut to the first 1,919 ids. The QSL holds those ids (int32,
one array per sample: samples are ragged); the highlights are the ROUGE targets.

The first open tokenizes every prompt (seconds with the fast tokenizer) and caches the ids keyed by the
file's and the tokenizer's contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER
from harness.errors import HarnessError
from models.base import Dataset
from models.gptj.preprocess import DATASET_FILE, MAX_INPUT_TOKENS, TOKENIZER_REQUIRED, GptjTokenizer, prompt_text

CNN_EVAL_SAMPLES = 13368
FETCH_HINT = "python scripts/fetch_cnndm.py (writes cnn_eval.json as the reference's download_cnndm.py does)"
CACHE_VERSION = "gptj-prompt-v1"


class CnnDailyMailDataset(Dataset):
    name = "cnn_dailymail-3.0.0-validation"

    def __init__(self, data_dir: Path, tokenizer_dir: Path, cache_root: Path,
                 max_input_tokens: int = MAX_INPUT_TOKENS) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        self.is_demo = (data_dir / DEMO_MARKER).exists()
        if self.is_demo:
            self.name = "cnn_dailymail-format demo set"
        self.path = data_dir / DATASET_FILE
        if not self.path.is_file():
            raise HarnessError(f"no {DATASET_FILE} in {data_dir}",
                               f"point --data-dir at the folder {FETCH_HINT} fills, or run with --demo")
        raw = self.path.read_bytes()
        try:
            records = json.loads(raw)
        except ValueError as exc:
            raise HarnessError(f"{self.path} is not JSON ({exc})", f"fetch it again: {FETCH_HINT}") from None
        if not isinstance(records, list) or not records or not all(
                isinstance(r, dict) and {"instruction", "input", "output"} <= set(r) for r in records):
            raise HarnessError(f"{self.path} is not a list of {{instruction, input, output}} records",
                               f"fetch it again: {FETCH_HINT}")
        self.records: list[dict[str, str]] = records
        self.targets = [str(r["output"]) for r in records]
        self.notes: list[str] = []
        if not self.is_demo and len(records) != CNN_EVAL_SAMPLES:
            self._note(f"{self.path} has {len(records)} samples, the MLPerf set has {CNN_EVAL_SAMPLES}")
        self.tokenizer = GptjTokenizer(tokenizer_dir)
        self.max_input_tokens = max_input_tokens
        digest = hashlib.sha256(CACHE_VERSION.encode() + raw + str(max_input_tokens).encode())
        for name in (*TOKENIZER_REQUIRED, "added_tokens.json"):
            if (tokenizer_dir / name).is_file():
                digest.update((tokenizer_dir / name).read_bytes())
        self.cache_file = cache_root / f"prompts-{len(records)}-{digest.hexdigest()[:16]}.npz"
        self._ids, self._offsets = self._open_cache()
        self._lengths = np.diff(self._offsets)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        print(f"!! {text}", file=sys.stderr, flush=True)

    def _open_cache(self) -> tuple[np.ndarray, np.ndarray]:
        if self.cache_file.is_file():
            try:
                with np.load(self.cache_file) as stored:
                    return stored["ids"], stored["offsets"]
            except (OSError, ValueError, KeyError):
                pass  # unreadable: rebuild it
        prompts = self.tokenizer.encode_prompts([prompt_text(r) for r in self.records], self.max_input_tokens)
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in prompts])]).astype(np.int64)
        ids = np.concatenate(prompts).astype(np.int32) if prompts else np.zeros(0, dtype=np.int32)
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache_file.with_name(self.cache_file.stem + ".partial.npz")
        np.savez(partial, ids=ids, offsets=offsets)
        os.replace(partial, self.cache_file)
        return ids, offsets

    @property
    def total_count(self) -> int:
        return len(self.records)

    def load_sample(self, index: int) -> dict[str, np.ndarray]:
        return {"input_ids": self._ids[self._offsets[index] : self._offsets[index + 1]].copy()}

    def sample_lengths(self) -> np.ndarray:
        return self._lengths

    def truncated_count(self) -> int:
        return int(np.sum(self._lengths >= self.max_input_tokens))

    def describe(self) -> str:
        lengths = self._lengths
        return (f"{super().describe()} (prompts {int(lengths.min())}-{int(lengths.max())} tokens, mean "
                f"{float(lengths.mean()):.0f}; {self.truncated_count()} cut at {self.max_input_tokens})")
