"""Answer decoding and the SQuAD v1.1 metric on crafted logits and predictions, against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from models.base import AccuracyEntry
from models.bert import PAD_LOGIT, Bert
from models.bert.dataset import SquadDataset
from models.bert.decode import final_text, logits_from_record, predict
from models.bert.metric import evaluate, exact_match_score, f1_score, normalize_answer
from models.bert.preprocess import SquadExample
from tests.test_bert_features import write_squad


def test_normalization_and_scores_by_hand() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert exact_match_score("the Denver Broncos", "Denver Broncos")
    assert not exact_match_score("Denver", "Denver Broncos")
    # "Denver" vs "Denver Broncos": 1 common word, precision 1/1, recall 1/2 -> F1 = 2/3
    assert f1_score("Denver", "Denver Broncos") == pytest.approx(2 / 3)
    # "Broncos won" vs "Denver Broncos": precision 1/2, recall 1/2 -> 1/2
    assert f1_score("Broncos won", "Denver Broncos") == pytest.approx(0.5)
    assert f1_score("Carolina", "Denver Broncos") == 0.0
    # repeated words count once per occurrence: "the cat cat" vs "cat" -> p 1/2, r 1 -> 2/3
    assert f1_score("a cat cat", "cat") == pytest.approx(2 / 3)


def test_squad_evaluate_by_hand() -> None:
    examples = [
        SquadExample("q1", "?", [], ["Denver Broncos", "The Broncos"]),
        SquadExample("q2", "?", [], ["Santa Clara, California"]),
        SquadExample("q3", "?", [], ["gold"]),
        SquadExample("q4", "?", [], ["1966"]),
    ]
    predictions = {"q1": "Broncos", "q2": "Santa Clara", "q3": "gold"}  # q4 unanswered: scores 0
    # q1: EM 0; F1 max(2/3 vs "Denver Broncos", 1 vs "the Broncos" -> "broncos") = 1
    #   ("Broncos" vs "The Broncos": normalized "broncos" == "broncos": EM 1 as well)
    # q2: EM 0; F1 "santa clara" vs "santa clara california": p 1, r 2/3 -> 0.8
    # q3: EM 1, F1 1
    scores = evaluate(examples, predictions)
    assert scores["exact_match"] == pytest.approx(100 * 2 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8 + 1) / 4)


@pytest.mark.parametrize("pred,orig,expected", [
    ("steve smith", "Steve Smith's", "Steve Smith"),
    ("beyonce knowles", "Beyoncé Knowles-Carter", "Beyoncé Knowles"),
    ("1895", "(1895-1943).", "1895"),
    ("nowhere", "Steve Smith's", "Steve Smith's"),  # no alignment: the original words
])
def test_final_text_maps_back_to_the_original_characters(pred: str, orig: str, expected: str) -> None:
    assert final_text(pred, orig) == expected


@pytest.fixture
def dataset(tmp_path: Path) -> SquadDataset:
    context = "The Denver Broncos defeated the Carolina Panthers (1895-1943). Steve Smith's team lost."
    folder = write_squad(tmp_path / "squad", [(context, [("Who won?", "Denver Broncos"),
                                                         ("When?", "1895"),
                                                         ("Whose team?", "Steve Smith")])])
    return SquadDataset(folder, tmp_path / "cache")


def _tokens(dataset: SquadDataset, feature: int) -> list[int]:
    return dataset.features.input_ids[feature].tolist()


def _logits_for(dataset: SquadDataset, feature: int, first_id: int, last_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits that point at the first document occurrence of two token ids."""
    ids = _tokens(dataset, feature)
    doc = [i for i, w in enumerate(dataset.features.orig_word[feature]) if w >= 0]
    start = next(i for i in doc if ids[i] == first_id)
    end = next(i for i in doc if ids[i] == last_id and i >= start)
    s = np.zeros(384)
    e = np.zeros(384)
    s[start], e[end] = 10.0, 10.0
    return s, e


def _vocab_list(dataset: SquadDataset) -> list[str]:
    from models.bert.tokenization import load_vocab

    vocab = load_vocab(dataset.vocab_path)
    out = [""] * len(vocab)
    for token, index in vocab.items():
        out[index] = token
    return out


def test_best_span_becomes_the_answer_text(dataset: SquadDataset) -> None:
    vocab = _vocab_list(dataset)
    logits = {0: _logits_for(dataset, 0, 7573, 14169),   # denver .. broncos
              1: _logits_for(dataset, 1, 6301, 6301),    # 1895
              2: _logits_for(dataset, 2, 3889, 1055)}    # steve .. s  ("steve smith ' s")
    predictions = predict(dataset.examples, dataset.features, logits, vocab)
    assert predictions == {"q0_0": "Denver Broncos", "q0_1": "1895", "q0_2": "Steve Smith's"}


def test_invalid_spans_are_skipped(dataset: SquadDataset) -> None:
    vocab = _vocab_list(dataset)
    s, e = _logits_for(dataset, 0, 7573, 14169)
    s_q = s.copy()
    s_q[1] = 50.0  # a start in the question is never a candidate: the document span still wins
    assert predict(dataset.examples[:1], dataset.features, {0: (s_q, e)}, vocab)["q0_0"] == "Denver Broncos"
    # [CLS] who won ? [SEP] the denver broncos defeated ...: the top pair (last document token, "defeated")
    # ends before it starts, so the best valid pair is the first document start with that end.
    length = int(dataset.features.input_mask[0].sum())
    start = np.full(384, -5.0)
    end = np.full(384, -5.0)
    start[length - 2] = 10.0
    end[8] = 10.0
    pred = predict(dataset.examples[:1], dataset.features, {0: (start, end)}, vocab)["q0_0"]
    assert pred == "The Denver Broncos defeated"
    # no logits at all for a question: the reference's "empty" answer
    assert predict(dataset.examples[:1], dataset.features, {}, vocab) == {"q0_0": "empty"}


def test_answers_longer_than_30_tokens_are_not_candidates(tmp_path: Path) -> None:
    context = " ".join(["cat"] * 40)
    folder = write_squad(tmp_path / "long", [(context, [("the?", "cat")])])
    data = SquadDataset(folder, tmp_path / "cache")
    vocab = _vocab_list(data)
    first_doc = 4  # [CLS] the ? [SEP]
    s = np.full(384, -1.0)
    e = np.full(384, -1.0)
    s[first_doc] = 10.0
    e[first_doc + 35] = 10.0  # 36 tokens: too long
    e[first_doc + 2] = 5.0  # 3 tokens: allowed, lower score
    assert predict(data.examples, data.features, {0: (s, e)}, vocab) == {"q0_0": "cat cat cat"}


def test_postprocess_pads_cropped_logits_to_384_and_the_record_round_trips() -> None:
    model = Bert()
    start = np.arange(2 * 100, dtype=np.float32).reshape(2, 100)
    end = -start
    responses = model.postprocess({"start_logits": start, "end_logits": end}, np.arange(len(start)))
    assert len(responses) == 2
    record = responses.sample_bytes(1)
    assert len(record) == 384 * 2 * 4  # [384, 2] float32
    pairs = np.frombuffer(record, dtype=np.float32).reshape(384, 2)
    assert np.array_equal(pairs[:100, 0], start[1]) and np.array_equal(pairs[:100, 1], end[1])
    assert (pairs[100:] == PAD_LOGIT).all()
    s, e = logits_from_record(record, "float32")
    assert s.dtype == np.float64 and np.array_equal(s[:100], start[1]) and (e[100:] == PAD_LOGIT).all()
    short = np.ones((10, 2), dtype=np.float32).tobytes()  # a shorter record is padded like the reference does
    assert (logits_from_record(short, "float32")[0][10:] == PAD_LOGIT).all()
    with pytest.raises(HarnessError):
        logits_from_record(np.ones(385 * 2, dtype=np.float32).tobytes(), "float32")


def test_evaluate_scores_an_accuracy_log(dataset: SquadDataset) -> None:
    model = Bert()
    right = [_logits_for(dataset, 0, 7573, 14169), _logits_for(dataset, 1, 6301, 6301),
             _logits_for(dataset, 2, 2136, 2136)]  # q3 points at "team" (2136): wrong
    entries = []
    for index, (s, e) in enumerate(right):
        pairs = np.stack([s, e], axis=-1).astype(np.float32)
        entries.append(AccuracyEntry(index, pairs.tobytes()))
    result = model.evaluate(entries, dataset)
    # q1, q2 exact; q3 "team" vs "Steve Smith": F1 0
    assert result.metrics["exact_match"] == pytest.approx(100 * 2 / 3)
    assert result.metrics["F1"] == pytest.approx(100 * 2 / 3)
    assert json.loads(result.report) == {"exact_match": result.metrics["exact_match"],
                                         "f1": result.metrics["F1"]}
    assert list(json.loads(result.report)) == ["exact_match", "f1"]  # the reference's key order
    with pytest.raises(HarnessError, match="no records"):
        model.evaluate([], dataset)
    with pytest.raises(HarnessError, match="sample 7"):
        model.evaluate([AccuracyEntry(7, entries[0].data)], dataset)
