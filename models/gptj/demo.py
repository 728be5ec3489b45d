"""GPT-J demo: CNN/DailyMail-shaped articles, a small GPT-2-format tokenizer, a tiny random GPT-J checkpoint.

- Articles: news-style paragraphs from a fixed word list with what CNN/DailyMail text has (a "(CNN) --"
  or "By . Name . PUBLISHED:" opening, quotes, contractions, numbers, money, dates, accented names,
  newlines); a few are long enough to be cut at 1,919 prompt tokens. Each "highlights" summary reuses
  sentences of its article, as the real ones mostly do, so ROUGE takes all its code paths.
- Tokenizer: byte-level BPE in the GPT-2 layout (vocab.json, merges.txt, "<|endoftext|>" special),
  trained offline with `tokenizers` on demo articles (``train_demo_tokenizer``); the trained files ship in
  ``demo_tokenizer/`` so every run and test reads the same ids.
- Checkpoint: ``write_tiny_checkpoint`` saves a seeded random GPT-J (2 layers, hidden 64) with that
  tokenizer as a Hugging Face checkpoint folder, the layout the real checkpoint-final has.

With random weights the summaries are noise: the scores prove that the path runs, not the model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER
from models.gptj.preprocess import DATASET_FILE, INSTRUCTION

TOKENIZER_DIR = Path(__file__).resolve().parent / "demo_tokenizer"
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
DEMO_VOCAB_SIZE = 2048

_NAMES = ("Smith", "Johnson", "Müller", "García", "O'Brien", "Nguyen", "Kowalski", "Dvořák", "Okafor", "Tanaka",
          "Jean-Luc Picard", "Zoë", "Chloé", "Mr. Brown", "Dr. Patel", "Sen. Ross", "Gov. Perez")
_PLACES = ("London", "New York", "Washington", "Paris", "São Paulo", "Zürich", "Kraków", "Beijing", "Lagos",
           "Sydney", "Mumbai", "Atlanta", "Manchester", "Glasgow", "Texas", "California", "the U.S.")
_WORDS = (
    "the a an of to in on for with at by from about after before during over under between police officials "
    "government minister president company report people city team season match game players fans goal win "
    "loss court judge trial jury evidence family children school hospital doctors patients health study "
    "research scientists data climate storm weather flood fire rescue crew flight airport passengers market "
    "shares prices economy bank money budget tax election vote campaign party leader spokesman statement "
    "said told says added warned claimed announced confirmed denied revealed according would could should "
    "will may might has have had was were is are been being year years week month day night morning hours "
    "new old first last second third major local national international public private official former "
    "young older small large high low early late long short more most less least many few several every "
    "his her their its our your this that these those which who whom whose where when while because "
    "although however despite also still already just only even never always often again later soon "
    "attack crash accident investigation arrest charges prison sentence victims survivors witnesses "
    "video photos social media online website message email phone interview footage image picture "
    "water food energy oil gas power network system service plan deal agreement talks peace war troops"
).split()
_OPENINGS = ("(CNN) -- ", "(CNN)", "By . {name} . PUBLISHED: . {day} {month} 2014 . | . UPDATED: . {day} {month} "
             "2014 . ", "{place} (CNN) -- ", "LONDON, England (Reuters) -- ", "")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_QUOTES = ("\"We're doing everything we can,\" {name} said.", "\"It's not over yet,\" {name} told CNN.",
           "'I can't believe it,' {name} said.", "\"They didn't know,\" said {name}, 42.",
           "{name} said: 'We'll be back next year.'", "\"This isn't what we wanted,\" {name} added.")
_EXTRAS = ("£4.5million", "$1,200", "€300", "45%", "3.7 per cent", "No. 10", "9/11", "24-year-old", "U.N.",
           "e-mail", "co-operation", "#BringBackOurGirls", "@CNN", "2,000", "1.5", "naïve", "café", "Beyoncé")


class _Writer:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, items: Sequence[str]) -> str:
        return str(items[int(self.rng.integers(len(items)))])

    def sentence(self) -> str:
        roll = self.rng.random()
        if roll < 0.12:
            return self.pick(_QUOTES).format(name=self.pick(_NAMES))
        words = []
        for _ in range(int(self.rng.integers(7, 26))):
            r = self.rng.random()
            if r < 0.05:
                words.append(self.pick(_NAMES))
            elif r < 0.09:
                words.append(self.pick(_PLACES))
            elif r < 0.12:
                words.append(self.pick(_EXTRAS))
            elif r < 0.15:
                words.append(str(int(self.rng.integers(2, 3000))))
            else:
                words.append(self.pick(_WORDS))
            if self.rng.random() < 0.06:
                words[-1] += ","
        text = " ".join(words)
        return text[:1].upper() + text[1:] + ("." if self.rng.random() < 0.9 else "?")

    def opening(self) -> str:
        template = self.pick(_OPENINGS)
        return template.format(name=self.pick(_NAMES), place=self.pick(_PLACES).upper(),
                               day=int(self.rng.integers(1, 29)), month=self.pick(_MONTHS))

    def article(self, sentences: int) -> tuple[str, str]:
        body = [self.sentence() for _ in range(sentences)]
        paragraphs: list[str] = []
        i = 0
        while i < len(body):
            take = int(self.rng.integers(1, 4))
            paragraphs.append(" ".join(body[i : i + take]))
            i += take
        separator = "\n\n" if self.rng.random() < 0.3 else " "
        article = self.opening() + separator.join(paragraphs)
        chosen = sorted(self.rng.choice(len(body), size=min(len(body), int(self.rng.integers(2, 5))),
                                        replace=False).tolist())
        highlights = " .\n".join(body[j].rstrip(".?") for j in chosen) + " ."
        return article, highlights


def demo_articles(count: int, seed: int = 2015) -> list[dict[str, str]]:
    """``count`` records as the reference's download_cnndm.py writes them: instruction, input, output."""
    writer = _Writer(np.random.default_rng(seed))
    records = []
    for i in range(count):
        # Every 12th article is long enough to pass 1,919 prompt tokens (it gets truncated).
        sentences = int(writer.rng.integers(180, 220)) if i % 12 == 5 else int(writer.rng.integers(3, 30))
        article, highlights = writer.article(sentences)
        records.append({"instruction": INSTRUCTION, "input": article, "output": highlights})
    return records


def write_demo_cnndm(dest: Path, count: int, seed: int = 2015) -> None:
    """cnn_eval.json with ``count`` generated articles (the reference's JSON layout) and the demo marker."""
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / DATASET_FILE, "w", encoding="utf-8") as handle:
        json.dump(demo_articles(count, seed), handle, indent=4, ensure_ascii=False)
    (dest / DEMO_MARKER).write_text(
        "Generated demo data in the layout of MLCommons' cnn_eval.json (CNN/DailyMail-shaped articles and\n"
        "highlights). It exercises the real prompt, tokenizer, truncation and ROUGE; its scores mean nothing.\n"
    )


def train_demo_tokenizer(dest: Path, vocab_size: int = DEMO_VOCAB_SIZE, seed: int = 77) -> None:
    """Train the demo byte-level BPE (GPT-2 pre-tokenizer, no prefix space) and save it in GPT-2's layout.

    ``demo_tokenizer/`` holds the result of ``train_demo_tokenizer(TOKENIZER_DIR)``; rerun it only to
    change the demo vocabulary (ids pinned by tests change with it)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = []
    for record in demo_articles(400, seed):
        texts.extend([record["input"], record["output"]])
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer.model.save(str(dest))  # vocab.json + merges.txt
    vocab = json.loads((dest / "vocab.json").read_text(encoding="utf-8"))
    vocab["<|endoftext|>"] = len(vocab)  # the end-of-text token comes last, as GPT-2's 50256 does
    (dest / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    (dest / "special_tokens_map.json").write_text(json.dumps(special, indent=1) + "\n")
    config = {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False, "model_max_length": 2048, **special}
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")


def copy_demo_tokenizer(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(TOKENIZER_DIR / name, dest / name)
