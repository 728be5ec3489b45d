"""BERT for extractive question answering (transformers' BertForQuestionAnswering), built and exported."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from models.bert.shapes import BERT_LARGE, INPUT_NAMES, OUTPUT_NAMES, BertShape
from models.bert.tokenization import VOCAB_SIZE


class BertQA(nn.Module):
    """(input_ids, input_mask, segment_ids) int64 [batch, seq] -> (start_logits, end_logits) [batch, seq]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, input_mask: torch.Tensor,
                segment_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(input_ids=input_ids, attention_mask=input_mask, token_type_ids=segment_ids)
        return out.start_logits, out.end_logits


def _config(shape: BertShape, attention: str) -> Any:
    from transformers import BertConfig

    # attn_implementation goes through BertConfig's **kwargs (the stubs do not list it).
    return BertConfig(vocab_size=VOCAB_SIZE, hidden_size=shape.hidden_size,  # type: ignore[call-arg]
                      num_hidden_layers=shape.num_hidden_layers, num_attention_heads=shape.num_attention_heads,
                      intermediate_size=shape.intermediate_size, hidden_act="gelu", hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                      initializer_range=0.02, attn_implementation=attention)


def _read_state_dict(weights: Path) -> dict[str, Any]:
    if weights.suffix.lower() == ".onnx":
        raise HarnessError(f"{weights} is an ONNX model; PyTorch backends need the PyTorch weights",
                           "pass --weights model.pytorch (python scripts/fetch_weights.py --model bert), "
                           "or run the ONNX file with --backend onnxruntime")
    state: Any
    try:
        if weights.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights))
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch / safetensors raise many types for a bad file
        raise HarnessError(f"cannot load weights {weights}: {str(exc)[:300]}",
                           "re-download them with python scripts/fetch_weights.py --model bert") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise HarnessError(f"{weights} holds a {type(state).__name__}, not a state dict",
                           "use MLPerf's model.pytorch (zenodo record 3733896)")
    return state


def build(weights: Path | None, seed: int, shape: BertShape, attention: str = "sdpa") -> BertQA:
    """fp32 eval-mode BertQA: MLPerf weights loaded into BERT-Large, or seeded random init of ``shape``."""
    from transformers import BertForQuestionAnswering

    if weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = BertForQuestionAnswering(_config(shape, attention))
        return BertQA(model).eval()
    state = _read_state_dict(weights)
    model = BertForQuestionAnswering(_config(BERT_LARGE, attention))
    try:
        # MLPerf's checkpoint (converted with transformers 2.x) also carries the pooler: unused here.
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise HarnessError(f"{weights} does not fit BERT-Large for question answering: {str(exc)[:300]}",
                           "use MLPerf's model.pytorch (zenodo record 3733896)") from None
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing:
        raise HarnessError(f"{weights} lacks {len(missing)} BERT-Large tensors, e.g. {', '.join(missing[:3])}",
                           "use MLPerf's model.pytorch (zenodo record 3733896)")
    return BertQA(model).eval()


def export_onnx(module: nn.Module, path: Path) -> None:
    """int64 [batch, seq] inputs with dynamic batch and sequence axes, one self-contained file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.onnx")
    length = 128
    ids, mask, segments = (np.ones((2, length), dtype=np.int64) for _ in INPUT_NAMES)
    mask[1, length // 2:] = 0  # trace the padded case: the mask must stay in the graph
    example = tuple(torch.from_numpy(a) for a in (ids, mask, segments))
    axes = {name: {0: "batch", 1: "seq"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)}
    # The tracer warns about transformers' shape checks; the padded example keeps the mask path traced.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(partial), input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), dynamic_axes=axes, opset_version=17, dynamo=False)
    partial.replace(path)
