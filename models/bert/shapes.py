"""The BERT network configurations and tensor names (no framework imports).

MLPerf's BERT-Large is 24 layers, hidden 1024, 16 heads, intermediate 4096, with the
uncased 30522-token vocabulary. The reduced configuration keeps the vocabulary, the
512-position and 2-segment embeddings, and shrinks depth and width so a CPU runs demo
queries in a few ms each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from models.bert.tokenization import VOCAB_SIZE

INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
OUTPUT_NAMES = ("start_logits", "end_logits")


@dataclass(frozen=True)
class BertShape:
    name: str
    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    intermediate_size: int

    def describe(self) -> str:
        return (f"{self.name} BERT ({self.num_hidden_layers} layers, hidden {self.hidden_size}, "
                f"{self.num_attention_heads} heads, intermediate {self.intermediate_size})")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "vocab_size": VOCAB_SIZE, "max_position_embeddings": 512, "type_vocab_size": 2}


# MLPerf's bert_config.json.
BERT_LARGE = BertShape("large", 24, 1024, 16, 4096)
# CPU demo runs with random weights.
BERT_REDUCED = BertShape("reduced", 2, 128, 2, 512)
