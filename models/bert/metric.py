"""Exact match and F1 as the official SQuAD v1.1 evaluator computes them.

Answers are compared after normalization (lower case, punctuation removed, the articles
a / an / the removed, whitespace collapsed); F1 is over bags of normalized words. Each
question scores its best match over the reference answers; both metrics are percentages
of all questions in the file (a question without a prediction scores 0).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

from models.bert.preprocess import SquadExample

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def f1_score(prediction: str, truth: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(truth).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(truth)


def evaluate(examples: Sequence[SquadExample], predictions: Mapping[str, str]) -> dict[str, float]:
    """{"exact_match": %, "f1": %} over every question in ``examples``."""
    exact = 0.0
    f1 = 0.0
    for example in examples:
        if example.qas_id not in predictions:
            continue
        prediction = predictions[example.qas_id]
        exact += max(float(exact_match_score(prediction, truth)) for truth in example.answers)
        f1 += max(f1_score(prediction, truth) for truth in example.answers)
    total = len(examples)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}
