"""The reference's prompt and tokenizer: Alpaca-style prompt, GPT-2 byte-level BPE, inputs cut at 1,919 tokens.

MLCommons' dataset.py formats every cnn_eval.json record with its ``prompt_input`` template and encodes it
with transformers' *slow* GPT-2 tokenizer (``use_fast=False``), ``truncation=True, max_length=1919``: the
first 1,919 ids are kept, so a long article loses its end and the "### Response:" line with it. Its
evaluation.py decodes with the same slow tokenizer (``skip_special_tokens=True``).

``GptjTokenizer`` reads the checkpoint folder's vocab.json and merges.txt (plus added_tokens.json when there)
and encodes with `tokenizers`' byte-level BPE, which gives the slow tokenizer's ids (the GPT-2
pre-tokenization pattern, no prefix space, no BOS). Decoding follows the slow tokenizer too: special ids
dropped, bytes decoded as UTF-8 with replacement, added tokens kept as their text and set apart by spaces,
then transformers 4.x's ``clean_up_tokenization`` (on unless the folder's tokenizer_config.json turns
``clean_up_tokenization_spaces`` off). tests/test_gptj_tokenizer.py pins both against ids and texts that
transformers 4.44's slow GPT2Tokenizer produced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

DATASET_FILE = "cnn_eval.json"
INSTRUCTION = "Summarize the following news article:"
PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
MAX_INPUT_TOKENS = 1919
EOS_TOKEN = "<|endoftext|>"
TOKENIZER_REQUIRED = ("vocab.json", "merges.txt")
CHECKPOINT_HINT = "python scripts/fetch_gptj_checkpoint.py (MLCommons' checkpoint-final folder)"
# transformers 4.x PreTrainedTokenizerBase.clean_up_tokenization, in order.
_CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
             (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def prompt_text(record: dict[str, str]) -> str:
    """The reference's prompt for one cnn_eval.json record (keys instruction, input)."""
    return PROMPT_INPUT.format_map(record)


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's reversible byte <-> printable-character map, as character -> byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return {chr(c): b for b, c in chars.items()}


class GptjTokenizer:
    """The GPT-J (GPT-2) tokenizer of a checkpoint folder."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

        missing = [name for name in TOKENIZER_REQUIRED if not (folder / name).is_file()]
        if missing:
            raise HarnessError(f"no tokenizer in {folder}: {', '.join(missing)} missing",
                               "the checkpoint folder carries vocab.json and merges.txt; fetch it with "
                               f"{CHECKPOINT_HINT}")
        self.folder = folder
        self.vocab: dict[str, int] = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        config = self._json("tokenizer_config.json")
        if config.get("add_prefix_space"):
            raise HarnessError(f"{folder}/tokenizer_config.json sets add_prefix_space, which GPT-J's tokenizer "
                               "does not", "use the checkpoint's own tokenizer files")
        self.clean_up = bool(config.get("clean_up_tokenization_spaces", True))
        self.added: dict[str, int] = {str(k): int(v) for k, v in self._json("added_tokens.json").items()}
        if EOS_TOKEN not in self.vocab and EOS_TOKEN not in self.added:
            raise HarnessError(f"{folder}/vocab.json has no {EOS_TOKEN} token",
                               "use the checkpoint's own tokenizer files")
        self.eos_id = self.added.get(EOS_TOKEN, self.vocab.get(EOS_TOKEN, -1))
        model = models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt"))
        self._fast = Tokenizer(model)
        self._fast.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        self._fast.decoder = decoders.ByteLevel()
        extra = [AddedToken(t, special=False, normalized=False) for t in sorted(self.added, key=lambda t: self.added[t])
                 if t != EOS_TOKEN]
        if extra:
            self._fast.add_tokens(extra)
        self._fast.add_special_tokens([AddedToken(EOS_TOKEN, special=True, normalized=False)])
        self.special_ids = {self.eos_id}
        self._id_to_token = {i: t for t, i in self.vocab.items()}
        self._id_to_added = {i: t for t, i in self.added.items() if t != EOS_TOKEN}
        self._byte_of = _byte_alphabet()
        self.vocab_size = max([*self.vocab.values(), *self.added.values()]) + 1

    def _json(self, name: str) -> dict:
        path = self.folder / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def encode(self, text: str) -> list[int]:
        return list(self._fast.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(e.ids) for e in self._fast.encode_batch(list(texts), add_special_tokens=False)]

    def encode_prompts(self, texts: Sequence[str], max_tokens: int = MAX_INPUT_TOKENS) -> list[np.ndarray]:
        """The reference's input ids: each text's ids cut to the first ``max_tokens``."""
        return [np.asarray(ids[:max_tokens], dtype=np.int32) for ids in self.encode_batch(texts)]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Generated ids to text as evaluation.py's ``batch_decode(skip_special_tokens=True)`` makes it.
        Ids outside the vocabulary (possible with random weights of a larger network) are dropped."""
        pieces: list[str] = []
        current = bytearray()
        for token_id in (int(i) for i in ids):
            if token_id in self.special_ids:
                continue
            added = self._id_to_added.get(token_id)
            if added is not None:
                if current:
                    pieces.append(current.decode("utf-8", errors="replace"))
                    current = bytearray()
                pieces.append(added)
                continue
            token = self._id_to_token.get(token_id)
            if token is not None:
                current.extend(self._byte_of[c] for c in token)
        if current:
            pieces.append(current.decode("utf-8", errors="replace"))
        text = " ".join(pieces)
        if self.clean_up:
            for old, new in _CLEAN_UP:
                text = text.replace(old, new)
        return text
