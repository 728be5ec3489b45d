"""GPT-J accuracy: ROUGE and GEN_LEN against hand-computed values, de-duplication, token dtypes, accuracy.txt.

Sample 0: target "The cat sat on the mat." vs "The cat lay on the mat.": 5 of 6 unigrams (P = R = F = 5/6),
3 of 5 bigrams (0.6), longest common subsequence 5 (5/6). Sample 1 shares no word with its target.
Means x100: ROUGE-1 41.6667, ROUGE-2 30.0, ROUGE-L 41.6667 (and rougeLsum the same, one sentence each).
GEN_LEN counts the characters of the predictions as evaluation.py leaves them: stripped, split into
sentences, joined by newlines: 23 + len("Gamma delta.\\nEpsilon zeta.") = 23 + 26 = 49 (the raw text has 27).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from models.base import AccuracyEntry
from models.gptj import GptJ, GptjOptions
from models.gptj.metric import postprocess_text, report_line, rouge_scores, sent_tokenize

TARGETS = ["The cat sat on the mat.", "Alpha beta."]
PREDICTIONS = ["The cat lay on the mat.", "  Gamma delta.  Epsilon zeta. "]


def test_rouge_and_gen_len_against_hand_computed_values() -> None:
    result = rouge_scores(PREDICTIONS, TARGETS)
    assert result == {"rouge1": 41.6667, "rouge2": 30.0, "rougeL": 41.6667, "rougeLsum": 41.6667,
                      "gen_len": 49, "gen_num": 2}
    assert report_line(result) == ("{'rouge1': 41.6667, 'rouge2': 30.0, 'rougeL': 41.6667, 'rougeLsum': 41.6667, "
                                   "'gen_len': 49, 'gen_num': 2}")


def test_sentences_split_like_nltk_punkt() -> None:
    text = ("Mr. Smith went to Washington D.C. on Jan. 5. He said: \"It's fine!\" Was it? Yes. "
            "The U.S. economy grew 3.5 per cent.")
    assert sent_tokenize(text) == ["Mr. Smith went to Washington D.C. on Jan. 5.", "He said: \"It's fine!\"",
                                   "Was it?", "Yes.", "The U.S. economy grew 3.5 per cent."]
    assert postprocess_text(["  One. Two.  "]) == ["One.\nTwo."]
    assert postprocess_text([""]) == [""]


@pytest.fixture
def scored(tmp_path: Path) -> tuple[GptJ, object]:
    records = [{"instruction": "Summarize the following news article:", "input": f"Article {i}.", "output": t}
               for i, t in enumerate(TARGETS)]
    (tmp_path / "cnn_eval.json").write_text(json.dumps(records))
    model = GptJ()
    return model, model.open_dataset(tmp_path, tmp_path / "cache")


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_evaluate_reads_the_recorded_dtype_and_keeps_the_first_record(tmp_path: Path, dtype: str) -> None:
    records = [{"instruction": "Summarize the following news article:", "input": f"Article {i}.", "output": t}
               for i, t in enumerate(TARGETS)]
    (tmp_path / "cnn_eval.json").write_text(json.dumps(records))
    model = GptJ(options=GptjOptions(accuracy_log_dtype=dtype))
    dataset = model.open_dataset(tmp_path, tmp_path / "cache")
    tokenizer = dataset.tokenizer  # type: ignore[attr-defined]
    eos = tokenizer.eos_id

    def entry(index: int, text: str) -> AccuracyEntry:
        ids = np.array([*tokenizer.encode(text), eos])  # generation ends on EOS, which decoding drops
        response = model.postprocess({"output_ids": ids[None]}, np.array([index]))
        return AccuracyEntry(index, response.sample_bytes(0))

    first = entry(1, PREDICTIONS[1])
    assert len(first.data) % np.dtype(dtype).itemsize == 0
    assert np.frombuffer(first.data, dtype=dtype)[-1] == eos
    log = [first, entry(0, PREDICTIONS[0]), entry(1, "Alpha beta.")]  # a later copy of sample 1 is ignored
    result = model.evaluate(log, dataset)
    assert result.metrics["ROUGE1"] == 41.6667 and result.metrics["ROUGE2"] == 30.0
    assert result.metrics["ROUGEL"] == 41.6667 and result.metrics["GEN_LEN"] == 49.0
    assert result.report == report_line(rouge_scores(PREDICTIONS, TARGETS))
    assert model.extra_record()["accuracy_log_dtype"] == dtype


def test_evaluate_refuses_bad_logs(scored: tuple[GptJ, object]) -> None:
    model, dataset = scored
    with pytest.raises(HarnessError, match="no records"):
        model.evaluate([], dataset)  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="dataset has 2"):
        model.evaluate([AccuracyEntry(7, b"\x00" * 8)], dataset)  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="whole number of int64"):
        model.evaluate([AccuracyEntry(0, b"\x00" * 12)], dataset)  # type: ignore[arg-type]
