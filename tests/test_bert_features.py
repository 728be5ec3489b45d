"""SQuAD json -> features: window counts, layout and max-context flags worked out by hand; the dataset
cache; the demo generator; and the errors for malformed files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.qsl import SampleStore
from models.bert import Bert
from models.bert.dataset import SquadDataset
from models.bert.demo import packaged_vocab, write_demo_squad
from models.bert.preprocess import convert_examples, read_squad_examples, split_paragraph, window_count
from models.bert.tokenization import FullTokenizer, load_vocab

CLS, SEP = 101, 102
THE, CAT = 1996, 4937


def write_squad(folder: Path, paragraphs: list[tuple[str, list[tuple[str, str]]]], vocab: bool = True) -> Path:
    """A SQuAD v1.1 file: one article, each paragraph with (question, answer text) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    data: list[dict[str, Any]] = []
    for p, (context, questions) in enumerate(paragraphs):
        qas = [{"id": f"q{p}_{i}", "question": q,
                "answers": [{"text": a, "answer_start": context.find(a)}]} for i, (q, a) in enumerate(questions)]
        data.append({"context": context, "qas": qas})
    (folder / "dev-v1.1.json").write_text(json.dumps({"version": "1.1", "data": [{"title": "t",
                                                                                 "paragraphs": data}]}))
    if vocab:
        shutil.copyfile(packaged_vocab(), folder / "vocab.txt")
    return folder


@pytest.fixture(scope="module")
def tokenizer() -> FullTokenizer:
    return FullTokenizer(load_vocab(packaged_vocab()))


def test_paragraph_split_on_squad_whitespace() -> None:
    assert split_paragraph("a  b\tc\nd\u202fe\xa0f") == ["a", "b", "c", "d", "e\xa0f"]


def test_short_paragraph_is_one_feature_laid_out_like_the_reference(tmp_path: Path,
                                                                       tokenizer: FullTokenizer) -> None:
    path = write_squad(tmp_path, [("Tokenization is fun.", [("the cat?", "fun")])]) / "dev-v1.1.json"
    features = convert_examples(read_squad_examples(path), tokenizer)
    assert len(features) == 1
    # [CLS] the cat ? [SEP] token ##ization is fun . [SEP]
    expected = [CLS, THE, CAT, 1029, SEP, 19204, 3989, 2003, 4569, 1012, SEP]
    assert features.input_ids[0, :11].tolist() == expected
    assert not features.input_ids[0, 11:].any()
    assert features.input_mask[0].tolist() == [1] * 11 + [0] * 373
    assert features.segment_ids[0].tolist() == [0] * 5 + [1] * 6 + [0] * 373
    # document positions 5..9 map to words 0,0,1,2,2 ("Tokenization" is two pieces, "fun." is two)
    assert features.orig_word[0, :12].tolist() == [-1] * 5 + [0, 0, 1, 2, 2] + [-1, -1]
    assert features.max_context[0, 5:10].all() and not features.max_context[0, :5].any()


def test_long_paragraph_is_cut_into_windows_with_doc_stride(tmp_path: Path, tokenizer: FullTokenizer) -> None:
    # 400 one-piece words; a 5-token question leaves 384 - 5 - 3 = 376 document tokens per window.
    # Windows: [0, 376) then, 128 further, [128, 400): two features.
    words = " ".join(["cat"] * 400)
    path = write_squad(tmp_path, [(words, [("the cat sat on the", "cat")])]) / "dev-v1.1.json"
    features = convert_examples(read_squad_examples(path), tokenizer)
    assert len(features) == 2 == window_count(400, 5)
    assert features.input_mask.sum(axis=1).tolist() == [1 + 5 + 1 + 376 + 1, 1 + 5 + 1 + 272 + 1]
    assert features.example_index.tolist() == [0, 0]
    assert features.orig_word[1, 7] == 128 and features.orig_word[1, 7 + 271] == 399
    # Max context = min(left, right) + 0.01 * window length, per token:
    #   word 200: window 0 -> min(200, 175) = 175; window 1 -> min(72, 199) = 72: window 0 owns it
    #   word 300: window 0 -> min(300, 75) = 75;   window 1 -> min(172, 99) = 99: window 1 owns it
    #   word 127 is only in window 0, word 380 only in window 1
    offset = 7  # [CLS] + 5 question tokens + [SEP]
    assert features.max_context[0, offset + 200] and not features.max_context[1, offset + 200 - 128]
    assert not features.max_context[0, offset + 300] and features.max_context[1, offset + 300 - 128]
    assert features.max_context[0, offset + 127] and features.max_context[1, offset + 380 - 128]


def test_question_keeps_its_first_64_tokens(tmp_path: Path, tokenizer: FullTokenizer) -> None:
    path = write_squad(tmp_path, [("cat " * 330, [("the " * 70, "cat")])]) / "dev-v1.1.json"
    features = convert_examples(read_squad_examples(path), tokenizer)
    # 64 question tokens leave 384 - 64 - 3 = 317 per window: [0, 317), [128, 330)
    assert len(features) == 2
    assert features.input_ids[0, 1:65].tolist() == [THE] * 64 and features.input_ids[0, 65] == SEP
    assert features.input_mask[0].sum() == 384


def test_dataset_loads_int64_features_and_caches_them(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = write_squad(tmp_path / "squad", [("cat " * 400, [("the cat?", "cat"), ("what?", "cat")]),
                                              ("Tokenization is fun.", [("why?", "fun")])])
    dataset = SquadDataset(folder, tmp_path / "cache")
    assert "tokenizing 3 questions" in capfd.readouterr().err
    assert dataset.total_count == 5 and len(dataset.examples) == 3
    batch = dataset.load(np.array([4, 0]))
    assert {k: (v.dtype, v.shape) for k, v in batch.items()} == {
        name: (np.dtype(np.int64), (2, 384)) for name in ("input_ids", "input_mask", "segment_ids")}
    assert dataset.sample_lengths().tolist() == dataset.features.input_mask.sum(axis=1).tolist()
    assert dataset.sample_lengths()[4] == 1 + 2 + 1 + 5 + 1  # [CLS] why ? [SEP] 5 pieces [SEP]
    again = SquadDataset(folder, tmp_path / "cache")
    assert "tokenizing" not in capfd.readouterr().err  # second open reads the cache
    assert np.array_equal(again.features.input_ids, dataset.features.input_ids)
    # The QSL crops a batch to its longest sample
    store = SampleStore(dataset, Bert.sample_inputs)
    store.load([0, 1, 2, 3, 4])
    assert store.gather(np.array([4, 2]))["input_ids"].shape == (2, int(dataset.sample_lengths()[2]))


def test_demo_set_has_exactly_the_requested_features(tmp_path: Path) -> None:
    for count in (1, 7, 40):
        folder = tmp_path / f"demo{count}"
        write_demo_squad(folder, count)
        dataset = SquadDataset(folder, tmp_path / "cache")
        assert dataset.is_demo and dataset.total_count == count
        for example in dataset.examples:
            assert example.answers and example.question_text.endswith("?")
    lengths = SquadDataset(tmp_path / "demo40", tmp_path / "cache").sample_lengths()
    assert lengths.min() < lengths.max()  # varied lengths, so length sorting has work to do


def test_malformed_json_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_squad(tmp_path / "squad", [("a b", [("q?", "a")])])
    squad = folder / "dev-v1.1.json"
    cases = {
        '{"version": "1.1", "data": [': "does not parse as JSON",
        '{"version": "1.1"}': 'no top-level "data" list',
        '{"data": [{"paragraphs": [{"qas": []}]}]}': "lacks a field",
        '{"data": [{"paragraphs": [{"context": "a", "qas": [{"id": "x", "question": "q", "answers": []}]}]}]}':
            "has no answers",
        '{"data": []}': "holds no questions",
    }
    for text, message in cases.items():
        squad.write_text(text)
        with pytest.raises(HarnessError, match=message) as info:
            SquadDataset(folder, tmp_path / "cache")
        assert info.value.fix and "fetch_squad.py" in info.value.fix


def test_missing_files_are_clear_errors(tmp_path: Path) -> None:
    folder = write_squad(tmp_path / "squad", [("a b", [("q?", "a")])], vocab=False)
    with pytest.raises(HarnessError, match="no vocab.txt") as info:
        SquadDataset(folder, tmp_path / "cache")
    assert info.value.fix and "fetch_squad.py" in info.value.fix
    (folder / "dev-v1.1.json").unlink()
    with pytest.raises(HarnessError, match="no dev-v1.1.json"):
        SquadDataset(folder, tmp_path / "cache")


def test_a_foreign_vocab_is_flagged(tmp_path: Path) -> None:
    folder = write_squad(tmp_path / "squad", [("a b", [("q?", "a")])])
    with open(folder / "vocab.txt", "a", encoding="utf-8") as handle:
        handle.write("extra\n")
    dataset = SquadDataset(folder, tmp_path / "cache")
    assert any("not MLPerf's uncased vocab" in note for note in dataset.notes)
