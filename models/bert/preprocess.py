"""SQuAD v1.1 json -> examples -> BERT input features, by the MLPerf reference's rules.

Each question is one example; its paragraph is split into words on whitespace (space,
tab, CR, LF and U+202F), the words into WordPiece tokens, and the tokens into windows of
at most ``384 - len(question) - 3`` tokens that start every 128 tokens (doc_stride). Each
window is one feature: ``[CLS] question [SEP] window [SEP]`` zero-padded to 384, with
segment 0 for the question part and 1 for the window. The question keeps its first 64
tokens. For answer decoding each feature remembers, for every window position, the word
it came from and whether this window is the one where that token has the most context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from models.bert.tokenization import FullTokenizer

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64


@dataclass
class SquadExample:
    """One question with its paragraph's whitespace words and the reference answers."""

    qas_id: str
    question_text: str
    doc_tokens: list[str]
    answers: list[str] = field(default_factory=list)


@dataclass
class FeatureArrays:
    """All features of a dataset as arrays (row = QSL index).

    ``orig_word`` holds, per position, the index of the paragraph word the token came from,
    or -1 outside the document window; ``max_context`` marks the positions whose token has
    its most context in this feature.
    """

    input_ids: np.ndarray  # (N, 384) int32
    input_mask: np.ndarray  # (N, 384) int8
    segment_ids: np.ndarray  # (N, 384) int8
    example_index: np.ndarray  # (N,) int32
    orig_word: np.ndarray  # (N, 384) int32
    max_context: np.ndarray  # (N, 384) bool

    def __len__(self) -> int:
        return int(self.example_index.shape[0])


def _is_squad_whitespace(char: str) -> bool:
    return char in (" ", "\t", "\r", "\n") or ord(char) == 0x202F


def split_paragraph(text: str) -> list[str]:
    """Whitespace words of a paragraph, as the reference reader splits them."""
    words: list[str] = []
    after_space = True
    for char in text:
        if _is_squad_whitespace(char):
            after_space = True
            continue
        if after_space:
            words.append(char)
        else:
            words[-1] += char
        after_space = False
    return words


def _bad_json(path: Path, what: str) -> HarnessError:
    return HarnessError(f"{path} is not a SQuAD v1.1 file: {what}",
                        "use dev-v1.1.json from the SQuAD site (python scripts/fetch_squad.py)")


def read_squad_examples(path: Path) -> list[SquadExample]:
    """Every question of a SQuAD v1.1 json file, in file order."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise HarnessError(f"{path} not found", "python scripts/fetch_squad.py downloads dev-v1.1.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad_json(path, f"it does not parse as JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise _bad_json(path, 'no top-level "data" list')
    examples: list[SquadExample] = []
    try:
        for article in document["data"]:
            for paragraph in article["paragraphs"]:
                words = split_paragraph(str(paragraph["context"]))
                for qa in paragraph["qas"]:
                    answers = [str(a["text"]) for a in qa["answers"]]
                    if not answers:
                        raise _bad_json(path, f"question {qa['id']} has no answers (SQuAD v1.1 questions all do)")
                    examples.append(SquadExample(str(qa["id"]), str(qa["question"]), words, answers))
    except (KeyError, TypeError) as exc:
        raise _bad_json(path, f"an article, paragraph or question lacks a field ({exc!r})") from None
    if not examples:
        raise _bad_json(path, "it holds no questions")
    return examples


def _max_context_window(windows: list[tuple[int, int]], position: int) -> int:
    """Index of the window where the token at ``position`` has the most context
    (min of left and right context, plus a 0.01 tie-break per window token)."""
    best_score = -1.0
    best = -1
    for index, (start, length) in enumerate(windows):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best < 0 or score > best_score:
            best_score, best = score, index
    return best


def _windows(token_count: int, max_tokens: int) -> list[tuple[int, int]]:
    """(start, length) of each document window: at most max_tokens long, starts DOC_STRIDE apart."""
    windows: list[tuple[int, int]] = []
    start = 0
    while start < token_count:
        length = min(token_count - start, max_tokens)
        windows.append((start, length))
        if start + length == token_count:
            break
        start += min(length, DOC_STRIDE)
    return windows


def window_count(doc_token_count: int, query_token_count: int) -> int:
    """How many features a question of that many tokens makes over a paragraph of that many tokens."""
    query = min(query_token_count, MAX_QUERY_LENGTH)
    return len(_windows(doc_token_count, MAX_SEQ_LENGTH - query - 3))


def convert_examples(examples: list[SquadExample], tokenizer: FullTokenizer) -> FeatureArrays:
    """Tokenize every example into its features (the reference's eval-mode conversion)."""
    cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    rows: list[dict[str, Any]] = []
    word_pieces: dict[int, tuple[list[str], list[int]]] = {}  # per paragraph (shared word list)
    for example_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question_text)[:MAX_QUERY_LENGTH]
        key = id(example.doc_tokens)
        if key not in word_pieces:
            pieces: list[str] = []
            piece_word: list[int] = []
            for word_index, word in enumerate(example.doc_tokens):
                for piece in tokenizer.tokenize(word):
                    pieces.append(piece)
                    piece_word.append(word_index)
            word_pieces[key] = (pieces, piece_word)
        pieces, piece_word = word_pieces[key]
        windows = _windows(len(pieces), MAX_SEQ_LENGTH - len(query) - 3)
        query_ids = tokenizer.convert_tokens_to_ids(query)
        doc_offset = len(query) + 2
        for window_index, (start, length) in enumerate(windows):
            ids = [cls_id, *query_ids, sep_id, *tokenizer.convert_tokens_to_ids(pieces[start:start + length]),
                   sep_id]
            rows.append({
                "example": example_index, "ids": ids, "doc_offset": doc_offset,
                "orig": piece_word[start:start + length],
                "max_ctx": [_max_context_window(windows, start + i) == window_index for i in range(length)],
            })
    return _stack(rows)


def _stack(rows: list[dict[str, Any]]) -> FeatureArrays:
    count = len(rows)
    input_ids = np.zeros((count, MAX_SEQ_LENGTH), dtype=np.int32)
    input_mask = np.zeros((count, MAX_SEQ_LENGTH), dtype=np.int8)
    segment_ids = np.zeros((count, MAX_SEQ_LENGTH), dtype=np.int8)
    orig_word = np.full((count, MAX_SEQ_LENGTH), -1, dtype=np.int32)
    max_context = np.zeros((count, MAX_SEQ_LENGTH), dtype=bool)
    example_index = np.zeros(count, dtype=np.int32)
    for i, row in enumerate(rows):
        ids = row["ids"]
        offset = row["doc_offset"]
        doc_len = len(row["orig"])
        input_ids[i, :len(ids)] = ids
        input_mask[i, :len(ids)] = 1
        segment_ids[i, offset:len(ids)] = 1  # the window and its closing [SEP]
        orig_word[i, offset:offset + doc_len] = row["orig"]
        max_context[i, offset:offset + doc_len] = row["max_ctx"]
        example_index[i] = row["example"]
    return FeatureArrays(input_ids, input_mask, segment_ids, example_index, orig_word, max_context)
