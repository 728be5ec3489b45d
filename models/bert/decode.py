"""Start / end logits -> answer text, by the rules of MLPerf's accuracy-squad.py.

Per feature, the 20 best start and 20 best end positions are paired; a pair counts when
both ends lie in the document window, the start token has its maximum context in this
feature, end >= start and the span is at most 30 tokens. Over all features of a question
the pair with the highest start + end logit wins (ties: the first in feature, start, end
order, as the reference's stable sort keeps them). Its WordPiece text is mapped back onto
the paragraph's original words; a question with no valid pair answers "empty".

The reference also builds the full n-best list with probabilities; its first entry is the
prediction, so only that one is computed here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from harness.errors import HarnessError
from models.bert.preprocess import MAX_SEQ_LENGTH, FeatureArrays, SquadExample
from models.bert.tokenization import SPECIAL_TOKENS, BasicTokenizer

N_BEST_SIZE = 20
MAX_ANSWER_LENGTH = 30
# accuracy-squad.py fills positions missing from a record with this logit.
MISSING_LOGIT = -10000.0
NO_ANSWER = "empty"

# The decoding tokenizer keeps the special tokens whole, like the reference's.
_BASIC = BasicTokenizer(do_lower_case=True, never_split=SPECIAL_TOKENS)


def logits_from_record(data: bytes, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """One accuracy-log record ([seq, 2] start/end pairs) -> float64 start and end logits of 384."""
    values = np.frombuffer(data, dtype=np.dtype(dtype))
    if values.size % 2 or values.size // 2 > MAX_SEQ_LENGTH:
        raise HarnessError(f"an accuracy-log record holds {values.size} {dtype} values; expected [seq <= "
                           f"{MAX_SEQ_LENGTH}, 2] start/end logits", "rerun in accuracy mode with this harness")
    pairs = values.reshape(-1, 2).astype(np.float64)
    start = np.full(MAX_SEQ_LENGTH, MISSING_LOGIT)
    end = np.full(MAX_SEQ_LENGTH, MISSING_LOGIT)
    start[: len(pairs)] = pairs[:, 0]
    end[: len(pairs)] = pairs[:, 1]
    return start, end


def _best_indexes(logits: np.ndarray) -> np.ndarray:
    """Positions of the N_BEST_SIZE largest logits, largest first, ties in position order."""
    return np.argsort(-logits, kind="stable")[:N_BEST_SIZE]


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, token_count: int, orig_word: np.ndarray,
              max_context: np.ndarray) -> tuple[float, int, int] | None:
    """(score, start, end) of the best valid span in one feature, or None."""
    starts = _best_indexes(start_logits)
    ends = _best_indexes(end_logits)
    s = starts[:, None]
    e = ends[None, :]
    valid = ((s < token_count) & (e < token_count) & (orig_word[s] >= 0) & (orig_word[e] >= 0)
             & max_context[s] & (e >= s) & (e - s + 1 <= MAX_ANSWER_LENGTH))
    if not valid.any():
        return None
    scores = np.where(valid, start_logits[s] + end_logits[e], -np.inf)
    flat = int(np.argmax(scores))  # first maximum in (start rank, end rank) order
    i, j = divmod(flat, scores.shape[1])
    return float(scores[i, j]), int(starts[i]), int(ends[j])


def final_text(pred_text: str, orig_text: str) -> str:
    """Project the normalized WordPiece answer back onto the original words' characters."""
    tok_text = " ".join(_BASIC.tokenize(orig_text))
    begin = tok_text.find(pred_text)
    if begin == -1:
        return orig_text
    last = begin + len(pred_text) - 1

    def no_spaces(text: str) -> tuple[str, dict[int, int]]:
        kept: list[str] = []
        to_spaced: dict[int, int] = {}
        for index, char in enumerate(text):
            if char == " ":
                continue
            to_spaced[len(kept)] = index
            kept.append(char)
        return "".join(kept), to_spaced

    orig_ns, orig_map = no_spaces(orig_text)
    tok_ns, tok_map = no_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_to_ns = {spaced: ns for ns, spaced in tok_map.items()}
    orig_begin = orig_map.get(tok_to_ns[begin]) if begin in tok_to_ns else None
    if orig_begin is None:
        return orig_text
    orig_last = orig_map.get(tok_to_ns[last]) if last in tok_to_ns else None
    if orig_last is None:
        return orig_text
    return orig_text[orig_begin : orig_last + 1]


def span_text(example: SquadExample, token_ids: np.ndarray, orig_word: np.ndarray, start: int, end: int,
              id_to_token: Sequence[str]) -> str:
    pieces = " ".join(id_to_token[int(t)] for t in token_ids[start : end + 1])
    pieces = pieces.replace(" ##", "").replace("##", "")
    pieces = " ".join(pieces.strip().split())
    words = " ".join(example.doc_tokens[int(orig_word[start]) : int(orig_word[end]) + 1])
    return final_text(pieces, words)


def predict(examples: Sequence[SquadExample], features: FeatureArrays, logits: dict[int, tuple[np.ndarray,
            np.ndarray]], id_to_token: Sequence[str]) -> dict[str, str]:
    """qas_id -> predicted answer for every example, from per-feature (start, end) logits."""
    by_example: dict[int, list[int]] = defaultdict(list)
    for feature_index in sorted(logits):
        by_example[int(features.example_index[feature_index])].append(feature_index)
    lengths = features.input_mask.sum(axis=1)
    predictions: dict[str, str] = {}
    for example_index, example in enumerate(examples):
        best: tuple[float, int, int, int] | None = None
        for feature_index in by_example.get(example_index, []):
            start_logits, end_logits = logits[feature_index]
            found = best_span(start_logits, end_logits, int(lengths[feature_index]),
                              features.orig_word[feature_index], features.max_context[feature_index])
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], feature_index, found[1], found[2])
        if best is None:
            predictions[example.qas_id] = NO_ANSWER
            continue
        _, feature_index, start, end = best
        predictions[example.qas_id] = span_text(example, features.input_ids[feature_index],
                                                features.orig_word[feature_index], start, end, id_to_token)
    return predictions
