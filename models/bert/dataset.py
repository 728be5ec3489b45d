"""SQuAD v1.1 dev set as MLPerf uses it: dev-v1.1.json + the uncased vocab.txt in one folder.

The first open tokenizes every question into features (pure Python, under a minute for
a file the real one's size) and caches them as arrays keyed by the two files' contents; later opens
load the arrays. The QSL holds int64 input_ids / input_mask / segment_ids of 384 positions
per feature; the true length of each feature drives length-sorted, cropped batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER
from harness.errors import HarnessError
from models.base import Dataset
from models.bert import preprocess as feat
from models.bert.tokenization import MLPERF_VOCAB_MD5, FullTokenizer, file_md5, load_vocab

SQUAD_FILE = "dev-v1.1.json"
VOCAB_FILE = "vocab.txt"
# The real dev-v1.1.json and the feature count the MLPerf reference makes from it.
SQUAD_DEV_MD5 = "3e85deb501d4e538b6bc56f786231552"
SQUAD_DEV_FEATURES = 10833
# Bump when the cached arrays would change.
FEATURES_VERSION = f"squad-v1.1-seq{feat.MAX_SEQ_LENGTH}-stride{feat.DOC_STRIDE}-q{feat.MAX_QUERY_LENGTH}-v1"
_ARRAYS = ("input_ids", "input_mask", "segment_ids", "example_index", "orig_word", "max_context")


class SquadDataset(Dataset):
    name = "squad-v1.1-dev"

    def __init__(self, data_dir: Path, cache_root: Path) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        self.is_demo = (data_dir / DEMO_MARKER).exists()
        if self.is_demo:
            self.name = "squad-format demo set"
        self.squad_path = data_dir / SQUAD_FILE
        self.vocab_path = data_dir / VOCAB_FILE
        if not self.squad_path.is_file():
            raise HarnessError(f"no {SQUAD_FILE} in {data_dir}",
                               "point --data-dir at the folder python scripts/fetch_squad.py fills "
                               f"({SQUAD_FILE} + {VOCAB_FILE})")
        if not self.vocab_path.is_file():
            raise HarnessError(f"no {VOCAB_FILE} in {data_dir}: the features need the uncased BERT vocabulary",
                               "python scripts/fetch_squad.py puts it there (or copy MLPerf's vocab.txt, "
                               f"md5 {MLPERF_VOCAB_MD5}, into {data_dir})")
        self.notes: list[str] = []
        self.vocab_md5 = file_md5(self.vocab_path)
        if self.vocab_md5 != MLPERF_VOCAB_MD5:
            self._note(f"{self.vocab_path} is not MLPerf's uncased vocab (md5 {self.vocab_md5}, "
                       f"expected {MLPERF_VOCAB_MD5}): token ids will not match the reference")
        self.examples = feat.read_squad_examples(self.squad_path)
        squad_bytes = self.squad_path.read_bytes()
        self.official = hashlib.md5(squad_bytes).hexdigest() == SQUAD_DEV_MD5
        key = hashlib.sha256(FEATURES_VERSION.encode() + squad_bytes + self.vocab_path.read_bytes()).hexdigest()
        self.cache_dir = cache_root / f"squad-{len(self.examples)}-{key[:16]}"
        self.features = self._open_cache()
        if self.official and len(self.features) != SQUAD_DEV_FEATURES:
            self._note(f"the official {SQUAD_FILE} gave {len(self.features)} features, the MLPerf reference "
                       f"makes {SQUAD_DEV_FEATURES}: please report this")
        self._lengths = self.features.input_mask.sum(axis=1, dtype=np.int64)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        print(f"!! {text}", file=sys.stderr, flush=True)

    @property
    def total_count(self) -> int:
        return len(self.features)

    def load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        order = np.asarray(indices, dtype=np.int64)
        f = self.features
        return {"input_ids": f.input_ids[order].astype(np.int64),
                "input_mask": f.input_mask[order].astype(np.int64),
                "segment_ids": f.segment_ids[order].astype(np.int64)}

    def sample_lengths(self) -> np.ndarray:
        return self._lengths

    def describe(self) -> str:
        return f"{super().describe()} ({len(self.examples)} questions)"

    # -- cache --------------------------------------------------------------
    def _open_cache(self) -> feat.FeatureArrays:
        arrays_path = self.cache_dir / "features.npz"
        meta_path = self.cache_dir / "meta.json"
        if arrays_path.is_file() and meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
                if meta.get("complete") and meta.get("version") == FEATURES_VERSION:
                    with np.load(arrays_path) as stored:
                        return feat.FeatureArrays(*(stored[name] for name in _ARRAYS))
            except (OSError, ValueError, KeyError):
                pass  # unreadable cache: rebuild it
        return self._build_cache(arrays_path, meta_path)

    def _build_cache(self, arrays_path: Path, meta_path: Path) -> feat.FeatureArrays:
        started = time.monotonic()
        print(f"tokenizing {len(self.examples)} questions from {self.squad_path} into {self.cache_dir} "
              "(once; later runs reuse it)", file=sys.stderr, flush=True)
        tokenizer = FullTokenizer(load_vocab(self.vocab_path))
        arrays = feat.convert_examples(self.examples, tokenizer)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = arrays_path.with_name("features.partial.npz")
        np.savez(partial, **{name: getattr(arrays, name) for name in _ARRAYS})
        os.replace(partial, arrays_path)
        meta = {"complete": True, "version": FEATURES_VERSION, "features": len(arrays),
                "questions": len(self.examples), "source": str(self.squad_path), "vocab_md5": self.vocab_md5}
        meta_path.write_text(json.dumps(meta, indent=1))
        print(f"  {len(arrays)} features in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        return arrays
