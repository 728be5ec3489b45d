"""The MLPerf 3D U-Net: its structure, the checkpoint format it loads, and its ONNX export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from models.unet3d import MODEL, network

TINY = network.UnetWidth("tiny", (2, 4, 4, 4, 4))


def test_full_network_has_the_mlperf_structure() -> None:
    """31.2 M parameters; 23 convolutions (22 followed by InstanceNorm + ReLU), 5 transposed ones,
    as the published ONNX model counts them; the checkpoint's module names."""
    net = network.build(None, 0, network.FULL)
    assert sum(p.numel() for p in net.parameters()) == 31_190_243
    modules = list(net.modules())
    assert sum(type(m) is torch.nn.Conv3d for m in modules) == 23
    assert sum(type(m) is torch.nn.ConvTranspose3d for m in modules) == 5
    assert sum(type(m) is torch.nn.InstanceNorm3d for m in modules) == 22
    keys = net.state_dict()
    assert len(keys) == 78
    assert keys["input_block.conv1.0.weight"].shape == (32, 1, 3, 3, 3)
    assert keys["downsample.3.conv1.0.weight"].shape == (320, 256, 3, 3, 3)
    assert keys["bottleneck.conv2.1.weight"].shape == (320,)
    assert keys["upsample.0.upsample_conv.0.weight"].shape == (320, 320, 2, 2, 2)
    assert keys["upsample.4.conv1.0.weight"].shape == (32, 64, 3, 3, 3)
    assert keys["output.conv.0.bias"].shape == (3,)
    assert "input_block.conv1.0.bias" not in keys  # convolutions before InstanceNorm carry no bias


def test_random_init_is_seeded() -> None:
    a, b, c = (network.build(None, s, TINY).state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_checkpoint_in_the_published_format_loads(tmp_path: Path) -> None:
    source = network.build(None, 3, network.FULL)
    path = tmp_path / "3dunet_kits19_pytorch_checkpoint.pth"
    torch.save({"best_model_state_dict": source.state_dict(), "epoch": 1}, path)
    loaded = network.build(path, 0)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())
    model = MODEL(weights=path, options=MODEL.options(network_width="auto"))
    assert model.width is network.FULL and "weights" in model.describe_weights()


def test_wrong_weights_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.pth"
    torch.save({"best_model_state_dict": {"some.weight": torch.zeros(1)}}, other)
    with pytest.raises(HarnessError, match="does not fit the MLPerf 3D U-Net"):
        network.build(other, 0)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(HarnessError, match="cannot read .*broken.pth"):
        network.build(broken, 0)
    with pytest.raises(HarnessError, match="ONNX model"):
        network.build(tmp_path / "model.onnx", 0)
    with pytest.raises(HarnessError, match="reduced is for random weights"):
        _ = MODEL(weights=other, options=MODEL.options(network_width="reduced")).width


def test_width_follows_the_device_for_random_weights() -> None:
    assert MODEL(on_gpu=False).width is network.REDUCED
    assert MODEL(on_gpu=True).width is network.FULL
    assert MODEL(on_gpu=True, options=MODEL.options(network_width="reduced")).width is network.REDUCED
    assert MODEL().extra_record()["reduced_network"] is True


def test_onnx_export_has_a_dynamic_batch_of_windows(tmp_path: Path) -> None:
    import onnxruntime as ort

    net = network.build(None, 1, TINY)
    path = tmp_path / "unet.onnx"
    network.export_onnx(net, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("input", "output")
    assert inp.shape[1:] == [1, 128, 128, 128] and isinstance(inp.shape[0], str)
    x = np.random.default_rng(0).normal(size=(2, 1, 128, 128, 128)).astype(np.float32)
    (got,) = session.run(["output"], {"input": x})
    with torch.inference_mode():
        expected = net(torch.from_numpy(x)).numpy()
    assert got.shape == (2, 3, 128, 128, 128)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_onnx_model_is_exported_once_into_the_cache(tmp_path: Path) -> None:
    model = MODEL(seed=4)
    first = model.onnx_model(tmp_path)
    assert first.path.is_file() and first.path.name == "3d-unet-reduced-random-seed4-g1.onnx"
    assert first.input_names == {"input": "input"} and first.output_names == {"output": "output"}
    mtime = first.path.stat().st_mtime_ns
    assert MODEL(seed=4).onnx_model(tmp_path).path.stat().st_mtime_ns == mtime
    given = MODEL(weights=first.path)
    assert given.onnx_model(tmp_path).path == first.path  # an .onnx file given as weights is used as is
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    with pytest.raises(HarnessError, match="cannot read .*bad.onnx as ONNX"):
        MODEL(weights=bad).onnx_model(tmp_path)
