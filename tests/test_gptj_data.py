"""GPT-J data: the reference's prompt and truncation, the tokenizer against the slow one, the cnn_eval.json reader.

tests/data/gptj_tokenizer_fixtures.json was written by transformers 4.44.2's slow GPT2Tokenizer (the
reference's ``use_fast=False``) over models/gptj/demo_tokenizer: ids of tricky texts and their decoding, the
input ids MLCommons' dataset.py makes from demo records (its template, ``truncation=True,
max_length=1919``), and the decoding of arbitrary id runs (broken UTF-8 and EOS in the middle).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from models.gptj.dataset import CnnDailyMailDataset
from models.gptj.demo import TOKENIZER_DIR, copy_demo_tokenizer, write_demo_cnndm
from models.gptj.preprocess import MAX_INPUT_TOKENS, PROMPT_INPUT, GptjTokenizer, prompt_text

FIXTURES = json.loads((Path(__file__).parent / "data" / "gptj_tokenizer_fixtures.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizer() -> GptjTokenizer:
    return GptjTokenizer(TOKENIZER_DIR)


def test_prompt_is_the_references_template() -> None:
    record = {"instruction": "Summarize the following news article:", "input": "Body {not a field}.", "output": "x"}
    text = prompt_text(record)
    assert text.startswith("Below is an instruction that describes a task, paired with an input that provides "
                           "further context. Write a response that appropriately completes the request.\n\n"
                           "### Instruction:\nSummarize the following news article:\n\n### Input:\n")
    assert text.endswith("Body {not a field}.\n\n### Response:")
    assert PROMPT_INPUT.count("{") == 2


def test_fast_tokenizer_gives_the_slow_tokenizers_ids(tokenizer: GptjTokenizer) -> None:
    for case in FIXTURES["texts"]:
        assert tokenizer.encode(case["text"]) == case["ids"], case["text"]
        assert tokenizer.decode(case["ids"]) == case["decoded"], case["text"]


def test_prompts_and_truncation_match_the_reference(tokenizer: GptjTokenizer) -> None:
    cases = FIXTURES["prompts"]
    ours = tokenizer.encode_prompts([prompt_text(c["record"]) for c in cases])
    lengths = [len(c["ids"]) for c in cases]
    assert max(lengths) == MAX_INPUT_TOKENS and min(lengths) < 400  # a cut article and short ones
    for got, case in zip(ours, cases):
        assert got.dtype == np.int32
        assert got.tolist() == case["ids"]
    cut = ours[lengths.index(MAX_INPUT_TOKENS)]
    assert tokenizer.decode(cut).endswith("### Response:") is False  # the cut takes the response line with it


def test_decoding_arbitrary_ids_matches_the_slow_tokenizer(tokenizer: GptjTokenizer) -> None:
    for case in FIXTURES["decodes"]:
        assert tokenizer.decode(np.array(case["ids"], dtype=np.int64)) == case["text"]
    assert tokenizer.decode([tokenizer.eos_id, 10_000_000]) == ""  # special and out-of-vocabulary ids go


def test_dataset_reads_cnn_eval_json_and_caches_prompts(tmp_path: Path, tokenizer: GptjTokenizer) -> None:
    write_demo_cnndm(tmp_path / "data", 13)
    dataset = CnnDailyMailDataset(tmp_path / "data", TOKENIZER_DIR, tmp_path / "cache")
    records = json.loads((tmp_path / "data" / "cnn_eval.json").read_text(encoding="utf-8"))
    assert dataset.is_demo and dataset.total_count == 13
    assert dataset.targets == [r["output"] for r in records]
    expected = tokenizer.encode_prompts([prompt_text(r) for r in records])
    for i in range(13):
        assert np.array_equal(dataset.load_sample(i)["input_ids"], expected[i])
    assert dataset.sample_lengths().tolist() == [len(e) for e in expected]
    assert dataset.truncated_count() == 1  # the demo's 6th article is long
    assert len(list((tmp_path / "cache").glob("prompts-*.npz"))) == 1
    again = CnnDailyMailDataset(tmp_path / "data", TOKENIZER_DIR, tmp_path / "cache")
    assert np.array_equal(again.load_sample(5)["input_ids"], expected[5])


def test_missing_dataset_names_the_fetch_script(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError) as info:
        CnnDailyMailDataset(tmp_path / "empty", TOKENIZER_DIR, tmp_path / "cache")
    assert "cnn_eval.json" in str(info.value) and "scripts/fetch_cnndm.py" in str(info.value.fix)


def test_malformed_dataset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "cnn_eval.json").write_text('[{"article": "no instruction"}]')
    with pytest.raises(HarnessError, match="instruction, input, output"):
        CnnDailyMailDataset(tmp_path / "d", TOKENIZER_DIR, tmp_path / "cache")


def test_missing_tokenizer_files_name_the_checkpoint_script(tmp_path: Path) -> None:
    copy_demo_tokenizer(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "merges.txt").unlink()
    with pytest.raises(HarnessError) as info:
        GptjTokenizer(tmp_path / "ckpt")
    assert "merges.txt" in str(info.value) and "scripts/fetch_gptj_checkpoint.py" in str(info.value.fix)
