"""The network: which configuration runs, weight loading, the ONNX export and MLPerf-style fixed-length ONNX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from models.bert import Bert, BertOptions, network
from models.bert.shapes import BERT_LARGE, BERT_REDUCED, INPUT_NAMES


def _batch(rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    ids = rng.integers(1000, 20000, size=(batch, length)).astype(np.int64)
    ids[:, 0] = 101
    mask = np.ones((batch, length), dtype=np.int64)
    mask[0, length // 2:] = 0  # a shorter sample in the batch, as in a cropped batch
    segments = np.zeros((batch, length), dtype=np.int64)
    segments[:, length // 3:] = 1
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments}


def _torch_logits(module: torch.nn.Module, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        start, end = module(*(torch.from_numpy(batch[name]) for name in INPUT_NAMES))
    return start.numpy(), end.numpy()


def test_random_weights_pick_the_network_by_device_or_choice() -> None:
    reduced, large = BertOptions(network="reduced"), BertOptions(network="large")
    assert Bert(options=reduced).shape is BERT_REDUCED
    assert "reduced BERT (2 layers, hidden 128" in Bert(options=reduced).describe_weights()
    assert Bert(options=reduced).extra_record()["reduced_network"] is True
    assert Bert(options=large).shape is BERT_LARGE
    assert Bert(options=large).extra_record()["network_config"]["num_hidden_layers"] == 24
    assert Bert(weights=Path("model.pytorch"), options=reduced).shape is BERT_LARGE  # real weights: always Large
    assert Bert().shape is BERT_REDUCED  # auto: runners on the CPU
    assert Bert(on_gpu=True).shape is BERT_LARGE  # auto: runners on GPUs


def test_onnx_export_matches_torch_at_any_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    model = Bert(options=BertOptions(network="reduced"))
    onnx = model.onnx_model(tmp_path)
    assert onnx.path.is_file() and "random" in onnx.path.name
    session = ort.InferenceSession(str(onnx.path), providers=["CPUExecutionProvider"])
    module = model.torch_module()
    rng = np.random.default_rng(0)
    for length in (37, 384):
        batch = _batch(rng, 3, length)
        got = session.run([onnx.output_names["start_logits"], onnx.output_names["end_logits"]],
                          {onnx.input_names[k]: v for k, v in batch.items()})
        want = _torch_logits(module, batch)
        assert got[0].shape == (3, length)
        np.testing.assert_allclose(got[0], want[0], atol=1e-4)
        np.testing.assert_allclose(got[1], want[1], atol=1e-4)
    # The mask matters: a padded sample's logits differ from the same ids unmasked
    batch = _batch(rng, 2, 40)
    unmasked = {**batch, "input_mask": np.ones_like(batch["input_mask"])}
    assert not np.allclose(_torch_logits(module, batch)[0][0, :20], _torch_logits(module, unmasked)[0][0, :20])


@pytest.mark.filterwarnings("ignore")  # the tracer's warnings about transformers' shape checks
def test_a_fixed_length_mlperf_style_onnx_takes_cropped_batches(tmp_path: Path) -> None:
    """MLPerf's model.onnx fixes seq at 384 and the int8 one names its inputs attention_mask / token_type_ids:
    the harness pads inside the graph and maps the names."""
    import onnxruntime as ort

    module = network.build(None, 3, BERT_REDUCED, attention="eager")  # opset 11, as MLPerf's files
    fixed = tmp_path / "bert_large_v1_1_fake_quant.onnx"
    example = tuple(torch.ones((1, 384), dtype=torch.int64) for _ in range(3))
    with torch.inference_mode():
        torch.onnx.export(module, example, str(fixed), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["output_start_logits", "output_end_logits"],
                          dynamic_axes={n: {0: "batch"} for n in ("input_ids", "attention_mask", "token_type_ids")},
                          opset_version=11, dynamo=False)
    onnx = Bert(weights=fixed).onnx_model(tmp_path / "cache")
    assert onnx.path != fixed and "padded to 384" in onnx.source
    assert onnx.output_names == {"start_logits": "output_start_logits", "end_logits": "output_end_logits"}
    session = ort.InferenceSession(str(onnx.path), providers=["CPUExecutionProvider"])
    batch = _batch(np.random.default_rng(1), 2, 100)
    start, end = session.run(list(onnx.output_names.values()), {onnx.input_names[k]: v for k, v in batch.items()})
    assert start.shape == (2, 384)
    want = _torch_logits(module, batch)
    np.testing.assert_allclose(start[:, :100], want[0], atol=1e-4)
    np.testing.assert_allclose(end[:, :100], want[1], atol=1e-4)


@pytest.mark.filterwarnings("ignore")
def test_an_onnx_file_that_is_not_bert_is_refused(tmp_path: Path) -> None:
    module = torch.nn.Linear(4, 2)
    path = tmp_path / "other.onnx"
    torch.onnx.export(module, (torch.ones(1, 4),), str(path), input_names=["x"], dynamo=False)
    with pytest.raises(HarnessError, match="cannot tell which input is input_ids"):
        Bert(weights=path).onnx_model(tmp_path)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not onnx")
    with pytest.raises(HarnessError, match="cannot read ONNX model"):
        Bert(weights=garbage).onnx_model(tmp_path)


def test_weights_load_into_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small stand-in for BERT-Large keeps this fast; the loading rules are the same.
    monkeypatch.setattr(network, "BERT_LARGE", BERT_REDUCED)
    source = network.build(None, 11, BERT_REDUCED)
    state = {k.removeprefix("model."): v for k, v in source.state_dict().items()}
    state["bert.pooler.dense.weight"] = torch.zeros(128, 128)  # MLPerf's checkpoint carries the pooler
    path = tmp_path / "model.pytorch"
    torch.save(state, path)
    loaded = network.build(path, 0, BERT_REDUCED)
    batch = _batch(np.random.default_rng(2), 2, 30)
    np.testing.assert_array_equal(_torch_logits(loaded, batch)[0], _torch_logits(source, batch)[0])

    del state["qa_outputs.weight"]
    torch.save(state, path)
    with pytest.raises(HarnessError, match="lacks 1 BERT-Large tensors, e.g. qa_outputs.weight"):
        network.build(path, 0, BERT_REDUCED)
    state["qa_outputs.weight"] = torch.zeros(2, 64)
    torch.save(state, path)
    with pytest.raises(HarnessError, match="does not fit BERT-Large"):
        network.build(path, 0, BERT_REDUCED)
    path.write_bytes(b"garbage")
    with pytest.raises(HarnessError, match="cannot load weights"):
        network.build(path, 0, BERT_REDUCED)
    with pytest.raises(HarnessError, match="is an ONNX model"):
        network.build(tmp_path / "model.onnx", 0, BERT_REDUCED)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with a CUDA build of torch")
def test_bert_large_fp16_on_the_gpu_agrees_with_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch backend's GPU path: BERT-Large, fp16, scaled-dot-product attention, a cropped batch."""
    from harness.backends import BackendContext, backend_class

    model = Bert(on_gpu=True)
    backend = backend_class("torch")(model, BackendContext(device="cuda", precision="fp16", max_batch_size=4))
    runner = backend.runners()[0]
    batch = _batch(np.random.default_rng(4), 4, 96)
    out = runner.infer(batch, 4)
    assert out["start_logits"].shape == (4, 96) and out["start_logits"].dtype == np.float32
    want = _torch_logits(model.torch_module().float().cpu(), batch)
    assert np.abs(out["start_logits"] - want[0]).max() < 0.05
    assert np.abs(out["end_logits"] - want[1]).max() < 0.05
