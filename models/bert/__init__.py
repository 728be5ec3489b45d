"""BERT-Large on SQuAD v1.1 (MLPerf "bert-99" and "bert-99.9": same network and data, two F1 targets)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.common import file_sha256
from harness.options import option
from models.base import (
    AccuracyEntry,
    AccuracyResult,
    Dataset,
    ModelSpec,
    NetworkSpec,
    OnnxModel,
    Responses,
    TensorSpec,
    WeightsFile,
    check_entries,
)
from models.bert.preprocess import MAX_SEQ_LENGTH
from models.bert.shapes import BERT_LARGE, BERT_REDUCED, INPUT_NAMES, OUTPUT_NAMES, BertShape

if TYPE_CHECKING:  # pragma: no cover
    import torch

# The accuracy log holds, per sample, 384 (start, end) float32 logit pairs, i.e. [384, 2]
# float32 as the reference SUTs log it; score it with accuracy-squad.py --output_dtype float32.
ACCURACY_LOG_DTYPE = np.float32
# Logged for positions past the batch's cropped length (what accuracy-squad.py pads with).
PAD_LOGIT = -10000.0


@dataclass(frozen=True)
class BertOptions:
    network: str = option("auto", "network random weights get: auto (BERT-Large on GPUs, the reduced 2-layer one "
                                  "on a CPU), large or reduced; real weights always run BERT-Large",
                          choices=("auto", "large", "reduced"))


def pack_logits(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """[batch, seq] start and end logits -> [batch, 384, 2] float32, padded with PAD_LOGIT."""
    batch, seq = start.shape
    out = np.full((batch, MAX_SEQ_LENGTH, 2), PAD_LOGIT, dtype=ACCURACY_LOG_DTYPE)
    out[:, :seq, 0] = start
    out[:, :seq, 1] = end
    return out


class Bert(ModelSpec):
    name = "bert"
    aliases = ("bert-large",)
    loadgen_name = "bert"
    mlperf_names = ("bert-99", "bert-99.9")
    scenarios = ("Offline", "Server")
    sample_inputs = tuple(TensorSpec(n, (-1,), "int64", max_shape=(MAX_SEQ_LENGTH,)) for n in INPUT_NAMES)
    network = NetworkSpec(
        inputs=sample_inputs,
        outputs=tuple(TensorSpec(n, (-1,), "float32", max_shape=(MAX_SEQ_LENGTH,)) for n in OUTPUT_NAMES))
    options = BertOptions
    # MLPerf's reference files (zenodo records 3733896, 3733910 and 3750364).
    weights_files = (
        WeightsFile("torch", "bert/model.pytorch", "https://zenodo.org/record/3733896/files/model.pytorch",
                    "00fbcbfaebfa20d87ac9885120a6e9b4", "fp32 PyTorch weights (torch backend; exported for others)"),
        WeightsFile("onnx", "bert/model.onnx", "https://zenodo.org/record/3733910/files/model.onnx",
                    "819b25b19cd8e59080c10892689750ca", "fp32 ONNX model (onnxruntime, tensorrt)", optional=True),
        WeightsFile("onnx-int8", "bert/bert_large_v1_1_fake_quant.onnx",
                    "https://zenodo.org/record/3750364/files/bert_large_v1_1_fake_quant.onnx",
                    "45f88ffb2915362242703c85c38ec2d4", "int8 Q/DQ ONNX for int8 engines (pass it with --weights)",
                    optional=True),
    )
    data_subdir = "squad"
    fetch_hint = "python scripts/fetch_squad.py (SQuAD v1.1 dev-v1.1.json + the uncased vocab.txt)"
    demo_sample_count = 256

    def __init__(self, weights: Path | None = None, seed: int = 0, options: Any = None, on_gpu: bool = False) -> None:
        super().__init__(weights, seed, options, on_gpu)
        self._shape: BertShape | None = None
        self.onnx_source = ""

    @property
    def shape(self) -> BertShape:
        """The network configuration this instance runs (decided once)."""
        if self._shape is None:
            self._shape = self._pick_shape()
        return self._shape

    def _pick_shape(self) -> BertShape:
        if self.weights is not None:
            return BERT_LARGE
        wanted = self.opts.network
        if wanted == "auto":
            return BERT_LARGE if self.on_gpu else BERT_REDUCED
        return BERT_LARGE if wanted == "large" else BERT_REDUCED

    # -- data ---------------------------------------------------------------
    def open_dataset(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from models.bert.dataset import SquadDataset

        return SquadDataset(data_dir, cache_dir / self.name)

    def write_demo_data(self, dest: Path, count: int) -> None:
        from models.bert.demo import write_demo_squad

        write_demo_squad(dest, count)

    # -- network ------------------------------------------------------------
    def torch_module(self) -> "torch.nn.Module":
        from models.bert import network

        return network.build(self.weights, self.seed, self.shape)

    def onnx_model(self, cache_dir: Path) -> OnnxModel:
        outputs = dict(zip(OUTPUT_NAMES, OUTPUT_NAMES))
        if self.weights is not None and self.weights.suffix.lower() == ".onnx":
            return self._given_onnx(self.weights, cache_dir)
        from models.bert import network

        source = f"random-seed{self.seed}" if self.weights is None else file_sha256(self.weights)[:16]
        # transformers' version is in the name: a new one may trace a different graph.
        path = cache_dir / "onnx" / f"bert-{self.shape.name}-{source}-tf{version('transformers')}.onnx"
        if not path.is_file():
            network.export_onnx(self.torch_module(), path)
        self.onnx_source = "exported from " + self.describe_weights()
        return OnnxModel(path, dict(zip(INPUT_NAMES, INPUT_NAMES)), outputs, self.onnx_source)

    def _given_onnx(self, path: Path, cache_dir: Path) -> OnnxModel:
        from models.bert import onnx_input

        input_map, output_map, fixed = onnx_input.inspect(path)
        if not fixed and all(k == v for k, v in input_map.items()):
            self.onnx_source = f"ONNX {path}"
            return OnnxModel(path, input_map, output_map, self.onnx_source)
        wrapped = cache_dir / "onnx" / f"{path.stem}-harness-{file_sha256(path)[:16]}.onnx"
        if not wrapped.is_file():
            onnx_input.with_harness_inputs(path, input_map, wrapped)
        self.onnx_source = f"ONNX {path} (int64 [batch, seq] inputs, padded to {MAX_SEQ_LENGTH} in the graph)"
        return OnnxModel(wrapped, {k: onnx_input.wrapped_input_name(k) for k in INPUT_NAMES}, output_map,
                         self.onnx_source)

    def describe_weights(self) -> str:
        if self.weights is None:
            shape = self.shape
            why = " for CPU demo runs" if shape is BERT_REDUCED else ""
            return f"seeded random init (seed {self.seed}) of a {shape.describe()}{why}"
        return f"weights {self.weights} ({self.shape.describe()})"

    # -- results ------------------------------------------------------------
    def postprocess(self, outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
        return Responses.rows(pack_logits(np.asarray(outputs["start_logits"]), np.asarray(outputs["end_logits"])))

    def evaluate(self, entries: Sequence[AccuracyEntry], dataset: Dataset) -> AccuracyResult:
        from models.bert import decode, metric
        from models.bert.dataset import SquadDataset
        from models.bert.tokenization import load_vocab

        if not isinstance(dataset, SquadDataset):
            raise TypeError(f"bert scores SQuAD datasets, got {type(dataset).__name__}")
        check_entries(entries, dataset.total_count)
        logits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for entry in entries:  # a later record of a sample replaces an earlier one, as in the reference
            logits[entry.qsl_idx] = decode.logits_from_record(entry.data, "float32")
        vocab = load_vocab(dataset.vocab_path)
        id_to_token = [""] * (max(vocab.values()) + 1)
        for token, index in vocab.items():
            id_to_token[index] = token
        predictions = decode.predict(dataset.examples, dataset.features, logits, id_to_token)
        scores = metric.evaluate(dataset.examples, predictions)
        report = json.dumps({"exact_match": scores["exact_match"], "f1": scores["f1"]})
        result = AccuracyResult(metrics={"F1": scores["f1"], "exact_match": scores["exact_match"]}, report=report)
        result.notes.extend(dataset.notes)
        if dataset.is_demo:
            result.notes.append("demo questions are generated: the score means nothing")
        if self.uses_random_weights:
            result.notes.append(f"random weights ({self.shape.name} BERT): expect F1 near 0")
        return result

    def extra_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "network": f"transformers BertForQuestionAnswering, {self.shape.describe()}",
            "network_config": self.shape.to_dict(),
            "reduced_network": self.shape is not BERT_LARGE,
            "accuracy_log_dtype": "float32",
            "accuracy_log_layout": f"[{MAX_SEQ_LENGTH}, 2] start/end logit pairs per sample; positions past the "
                                   f"batch's cropped length hold {PAD_LOGIT:g}",
            "max_seq_length": MAX_SEQ_LENGTH,
        }
        if self.onnx_source:
            record["onnx_source"] = self.onnx_source
        return record


MODEL = Bert
