"""WordPiece tokenization: token ids checked by hand against vocab.txt line numbers, and against
the tokenizer the MLPerf reference uses (transformers' BertTokenizer built from the same vocab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from models.bert.demo import packaged_vocab
from models.bert.tokenization import (
    MLPERF_VOCAB_MD5,
    VOCAB_SIZE,
    BasicTokenizer,
    FullTokenizer,
    file_md5,
    load_vocab,
)


@pytest.fixture(scope="module")
def vocab() -> dict[str, int]:
    return load_vocab(packaged_vocab())


@pytest.fixture(scope="module")
def tokenizer(vocab: dict[str, int]) -> FullTokenizer:
    return FullTokenizer(vocab)


def test_packaged_vocab_is_mlperfs(vocab: dict[str, int]) -> None:
    assert file_md5(packaged_vocab()) == MLPERF_VOCAB_MD5
    assert len(vocab) == VOCAB_SIZE
    # id = line number - 1 in vocab.txt
    assert (vocab["[PAD]"], vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]) == (0, 100, 101, 102)


# Expected ids read off vocab.txt by hand (`grep -n -x -F WORD vocab.txt`, minus one).
HAND_CHECKED = [
    ("Which NFL team represented the AFC at Super Bowl 50?",
     ["which", "nfl", "team", "represented", "the", "afc", "at", "super", "bowl", "50", "?"],
     [2029, 5088, 2136, 3421, 1996, 10511, 2012, 3565, 4605, 2753, 1029]),
    ("Denver Broncos", ["denver", "broncos"], [7573, 14169]),
    ("Tokenization is fun.", ["token", "##ization", "is", "fun", "."], [19204, 3989, 2003, 4569, 1012]),
    ("Café naïve (1895-1943).", ["cafe", "naive", "(", "1895", "-", "1943", ")", "."],
     [7668, 15743, 1006, 6301, 1011, 3826, 1007, 1012]),
    ("Steve Smith's", ["steve", "smith", "'", "s"], [3889, 3044, 1005, 1055]),
    ("foo[SEP]bar", ["foo", "[SEP]", "bar"], [29379, 102, 3347]),  # special tokens stay whole
    ("x\u200by", ["x", "##y"], [1060, 2100]),  # a zero-width space (format char) is dropped
    ("中文字", ["中", "文", "[UNK]"], [1746, 1861, 100]),  # CJK split per character
    ("a" * 101, ["[UNK]"], [100]),  # words over 100 characters are unknown
]


@pytest.mark.parametrize("text,tokens,ids", HAND_CHECKED)
def test_hand_checked_token_ids(tokenizer: FullTokenizer, text: str, tokens: list[str], ids: list[int]) -> None:
    assert tokenizer.tokenize(text) == tokens
    assert tokenizer.convert_tokens_to_ids(tokens) == ids


def test_same_tokens_as_the_reference_tokenizer(vocab: dict[str, int], tokenizer: FullTokenizer) -> None:
    from transformers import BertTokenizer

    # The reference's BertTokenizer(vocab_file) path; transformers 5 needs the vocab passed as a dict.
    reference = BertTokenizer(vocab=dict(vocab))
    texts = [t for t, _, _ in HAND_CHECKED] + [
        "The Normans (Norman: Nourmands; French: Normands; Latin: Normanni) were the people who in the 10th "
        "and 11th centuries gave their name to Normandy, a region in France.",
        "Beyoncé Giselle Knowles-Carter (/biːˈjɒnseɪ/ bee-YON-say) (born September 4, 1981)",
        "İstanbul, Zürich, São Paulo, Kraków, Dvořák, Ω, K (Kelvin sign), ﬁne (ligature), tab\there\nnewline",
        "$5,000 10% U.S. Dr. O'Neill don't «quoted» “smart” — – ‘single’ \ue000private \ufffdreplacement",
        "控制\x07char and \xa0no-break\u202fnarrow\u2009thin spaces, [CLS] [MASK] [PAD] [UNK] [sep]",
        "unaffable antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    ]
    for text in texts:
        assert tokenizer.tokenize(text) == reference.tokenize(text), text


def test_basic_tokenizer_lowercases_strips_accents_and_splits_punctuation() -> None:
    basic = BasicTokenizer(do_lower_case=True)
    assert basic.tokenize("Hello, WORLD! Élan-vital") == ["hello", ",", "world", "!", "elan", "-", "vital"]
    specials = BasicTokenizer(do_lower_case=True, never_split=("[SEP]",))
    assert specials.tokenize("A [SEP] b") == ["a", "[SEP]", "b"]


def test_vocab_missing_or_wrong(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="not found"):
        load_vocab(tmp_path / "vocab.txt")
    not_bert = tmp_path / "words.txt"
    not_bert.write_text("hello\nworld\n")
    with pytest.raises(HarnessError, match="not a BERT vocabulary"):
        load_vocab(not_bert)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(HarnessError, match="not UTF-8"):
        load_vocab(binary)
