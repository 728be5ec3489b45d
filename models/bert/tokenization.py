"""BERT uncased WordPiece tokenization, written to the rules of the MLPerf reference.

The reference QSL tokenizes with HuggingFace's ``BertTokenizer`` (lower case, accents
stripped, CJK characters split, punctuation split, greedy longest-match WordPiece with
"##" continuations, at most 100 characters per word) and its answer decoding uses the
basic (pre-WordPiece) step of Google's ``tokenization.py``. Both are plain functions of
the text and the vocabulary; this module implements them without a framework so the
features are cached once and the token ids are the reference's.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from harness.errors import HarnessError

VOCAB_SIZE = 30522
# md5 of the uncased BERT vocab.txt that MLPerf ships (zenodo record 3733868).
MLPERF_VOCAB_MD5 = "64800d5d8528ce344256daf115d4965e"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_CHARS_PER_WORD = 100


def load_vocab(path: Path) -> dict[str, int]:
    """vocab.txt (one token per line, id = line number from 0) -> token -> id."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise HarnessError(f"vocabulary {path} not found",
                           "python scripts/fetch_squad.py puts vocab.txt next to dev-v1.1.json") from None
    except UnicodeDecodeError as exc:
        raise HarnessError(f"vocabulary {path} is not UTF-8 text ({exc})",
                           "use the uncased BERT vocab.txt (python scripts/fetch_squad.py)") from None
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    vocab = {token: index for index, token in enumerate(lines)}
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise HarnessError(f"{path} is not a BERT vocabulary: it lacks {', '.join(missing)}",
                           "use the uncased BERT vocab.txt (python scripts/fetch_squad.py)")
    return vocab


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def whitespace_split(text: str) -> list[str]:
    return text.strip().split()


def _is_whitespace(char: str) -> bool:
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # Every non-alphanumeric ASCII printable counts, "$" and "^" included.
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


class BasicTokenizer:
    """Cleaning, CJK splitting, lower-casing with accent stripping, punctuation splitting."""

    def __init__(self, do_lower_case: bool = True, never_split: Iterable[str] = ()) -> None:
        self.do_lower_case = do_lower_case
        self.never_split = frozenset(never_split)

    def tokenize(self, text: str) -> list[str]:
        text = self._clean(text)
        text = self._space_cjk(text)
        pieces: list[str] = []
        for token in whitespace_split(text):
            if token in self.never_split:
                pieces.append(token)
                continue
            if self.do_lower_case:
                token = self._strip_accents(token.lower())
            pieces.extend(self._split_punctuation(token))
        return whitespace_split(" ".join(pieces))

    @staticmethod
    def _clean(text: str) -> str:
        out = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or _is_control(char):
                continue
            out.append(" " if _is_whitespace(char) else char)
        return "".join(out)

    @staticmethod
    def _space_cjk(text: str) -> str:
        out: list[str] = []
        for char in text:
            if _is_cjk(ord(char)):
                out.extend((" ", char, " "))
            else:
                out.append(char)
        return "".join(out)

    @staticmethod
    def _strip_accents(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")

    @staticmethod
    def _split_punctuation(text: str) -> list[str]:
        words: list[str] = []
        start_new = True
        for char in text:
            if _is_punctuation(char):
                words.append(char)
                start_new = True
            else:
                if start_new:
                    words.append("")
                start_new = False
                words[-1] += char
        return words


class WordpieceTokenizer:
    """Greedy longest-match-first split of one basic token into vocabulary pieces."""

    def __init__(self, vocab: dict[str, int], unk_token: str = "[UNK]") -> None:
        self.vocab = vocab
        self.unk_token = unk_token

    def tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for word in whitespace_split(text):
            if len(word) > MAX_CHARS_PER_WORD:
                out.append(self.unk_token)
                continue
            pieces: list[str] = []
            start = 0
            while start < len(word):
                end = len(word)
                found = None
                while start < end:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        found = piece
                        break
                    end -= 1
                if found is None:
                    pieces = [self.unk_token]
                    break
                pieces.append(found)
                start = end
            out.extend(pieces)
        return out


class FullTokenizer:
    """What the reference's ``BertTokenizer(vocab)`` does for SQuAD: special tokens kept whole,
    everything else basic-tokenized, then WordPiece-split."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self.specials = tuple(t for t in SPECIAL_TOKENS if t in vocab)
        self.basic = BasicTokenizer(do_lower_case=True, never_split=self.specials)
        self.wordpiece = WordpieceTokenizer(vocab)

    @classmethod
    def from_file(cls, path: Path) -> "FullTokenizer":
        return cls(load_vocab(path))

    def tokenize(self, text: str) -> list[str]:
        tokens: list[str] = []
        for chunk, special in self._split_specials(text):
            if special:
                tokens.append(chunk)
                continue
            for token in self.basic.tokenize(chunk):
                if token in self.basic.never_split:
                    tokens.append(token)
                else:
                    tokens.extend(self.wordpiece.tokenize(token))
        return tokens

    def _split_specials(self, text: str) -> list[tuple[str, bool]]:
        """Cut the text around literal special tokens ("[SEP]" inside a word stays one token)."""
        parts: list[tuple[str, bool]] = []
        rest = text
        while rest:
            hits = [(rest.find(t), t) for t in self.specials if t in rest]
            if not hits:
                parts.append((rest, False))
                break
            at, token = min(hits)
            if at:
                parts.append((rest[:at], False))
            parts.append((token, True))
            rest = rest[at + len(token):]
        return parts

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        unk = self.vocab["[UNK]"]
        return [self.vocab.get(t, unk) for t in tokens]
