"""The GPT-J network: transformers' GPTJForCausalLM from a checkpoint folder, or seeded random weights.

- A checkpoint folder (MLCommons' checkpoint-final: config.json, the weight shards, the tokenizer files) loads
  with ``from_pretrained`` in the run's precision.
- Random weights take a shape: the real 6B one (28 layers, hidden 4096, 16 heads, rotary 64, vocabulary
  50,400: right for speed on a GPU), or a tiny one (2 layers, hidden 64) whose vocabulary is the demo
  tokenizer's, for CPU demo runs. The tiny one is initialised with a wide spread (0.5) so its next-token
  distributions are peaked: beam search then makes clear choices, which is what tests comparing two
  implementations token for token need.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from models.gptj.preprocess import CHECKPOINT_HINT

if TYPE_CHECKING:  # pragma: no cover
    from transformers import GPTJForCausalLM

TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class GptjShape:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    rotary_dim: int
    vocab_size: int | None  # None: the tokenizer's
    n_positions: int = 2048
    initializer_range: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def describe(self) -> str:
        vocab = "the tokenizer's" if self.vocab_size is None else str(self.vocab_size)
        return (f"GPT-J {self.name} ({self.n_layer} layers, hidden {self.n_embd}, {self.n_head} heads, rotary "
                f"{self.rotary_dim}, vocabulary {vocab})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GPTJ_6B = GptjShape("6b", 28, 4096, 16, 64, 50400)
GPTJ_TINY = GptjShape("tiny", 2, 64, 4, 8, None, initializer_range=0.5)
SHAPES = {"6b": GPTJ_6B, "tiny": GPTJ_TINY}
CHECKPOINT_CONFIG = "config.json"


def gptj_config(shape: GptjShape, vocab_size: int, eos_token_id: int) -> Any:
    from transformers import GPTJConfig

    return GPTJConfig(vocab_size=shape.vocab_size or vocab_size, n_positions=shape.n_positions,
                      n_embd=shape.n_embd, n_layer=shape.n_layer, n_head=shape.n_head, rotary_dim=shape.rotary_dim,
                      initializer_range=shape.initializer_range, bos_token_id=eos_token_id,
                      eos_token_id=eos_token_id, pad_token_id=eos_token_id, tie_word_embeddings=False)


def shape_of_checkpoint(folder: Path) -> GptjShape:
    config = json.loads((folder / CHECKPOINT_CONFIG).read_text())
    return GptjShape("checkpoint", int(config["n_layer"]), int(config["n_embd"]), int(config["n_head"]),
                     int(config.get("rotary_dim") or config["n_embd"] // config["n_head"]), int(config["vocab_size"]),
                     int(config.get("n_positions", 2048)))


# generation_config.json keys that change what generate does with the reference's arguments, with their
# neutral values: the fast path implements plain beam search only.
_NEUTRAL_GENERATION = {"do_sample": False, "length_penalty": 1.0, "repetition_penalty": 1.0,
                       "no_repeat_ngram_size": 0, "num_beam_groups": 1, "diversity_penalty": 0.0,
                       "bad_words_ids": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
                       "suppress_tokens": None, "begin_suppress_tokens": None, "encoder_repetition_penalty": 1.0,
                       "exponential_decay_length_penalty": None, "sequence_bias": None}


def generation_overrides(folder: Path) -> dict[str, Any]:
    """What the checkpoint's generation_config.json sets that plain beam search does not do."""
    path = folder / "generation_config.json"
    if not path.is_file():
        return {}
    config = json.loads(path.read_text())
    return {k: config[k] for k, neutral in _NEUTRAL_GENERATION.items() if k in config and config[k] != neutral}


def check_checkpoint(folder: Path) -> None:
    if not folder.is_dir():
        raise HarnessError(f"GPT-J checkpoint folder {folder} not found",
                           f"fetch it with {CHECKPOINT_HINT}, or leave out --weights to run random weights")
    if not (folder / CHECKPOINT_CONFIG).is_file():
        raise HarnessError(f"{folder} has no {CHECKPOINT_CONFIG}: not a Hugging Face checkpoint folder",
                           f"point --weights at checkpoint-final ({CHECKPOINT_HINT})")
    shards = [p for p in folder.iterdir() if p.suffix in (".bin", ".safetensors") and p.name != "training_args.bin"]
    if not shards:
        raise HarnessError(f"{folder} has no weight files (*.bin or *.safetensors)",
                           f"the download is incomplete: rerun {CHECKPOINT_HINT}")


def load_network(checkpoint: Path | None, shape: GptjShape, vocab_size: int, eos_token_id: int, seed: int,
                 device: str, precision: str) -> "GPTJForCausalLM":
    """GPTJForCausalLM in eval mode on ``device`` in ``precision`` (fp32 | fp16 | bf16)."""
    import torch
    from transformers import GPTJForCausalLM

    dtype = getattr(torch, TORCH_DTYPES[precision])
    model: Any  # transformers' decorated methods confuse the type checker
    if checkpoint is not None:
        check_checkpoint(checkpoint)
        loader: Any = GPTJForCausalLM
        model = loader.from_pretrained(str(checkpoint), dtype=dtype, low_cpu_mem_usage=True)
        return model.to(device).eval()
    config = gptj_config(shape, vocab_size, eos_token_id)
    # Seeded, without disturbing the caller's random state (the 6B shape is drawn on its GPU).
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        if device.startswith("cuda") and shape.n_embd >= 1024:
            with torch.device(device):  # 6B in fp32 is 24 GB: build it where it will run
                model = GPTJForCausalLM(config)
        else:
            model = GPTJForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.to(device=device, dtype=dtype).eval()


def write_tiny_checkpoint(dest: Path, seed: int = 0) -> None:
    """A seeded random tiny GPT-J plus the demo tokenizer, saved as a checkpoint folder (checkpoint-final's
    layout: config.json, weights, vocab.json, merges.txt...)."""
    from models.gptj.demo import copy_demo_tokenizer
    from models.gptj.preprocess import GptjTokenizer

    copy_demo_tokenizer(dest)
    tokenizer = GptjTokenizer(dest)
    model = load_network(None, GPTJ_TINY, tokenizer.vocab_size, tokenizer.eos_id, seed, "cpu", "fp32")
    saver: Any = model
    saver.save_pretrained(str(dest))
