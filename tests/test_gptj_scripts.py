"""GPT-J's fetch scripts against local mirrors, and what the model says about missing or broken checkpoints."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from models.gptj import GptJ
from models.gptj.dataset import CnnDailyMailDataset
from models.gptj.demo import TOKENIZER_DIR
from models.gptj.network import write_tiny_checkpoint
from scripts import fetch_cnndm, fetch_gptj_checkpoint, fetch_weights


def _mirror(tmp_path: Path, files: dict[str, bytes], wrong: str | None = None) -> str:
    """A metadata .uri naming a file folder, and the .md5 list beside it (the R2 downloader's layout)."""
    store = tmp_path / "bucket" / "gpt-j"
    lines = []
    for name, data in files.items():
        (store / name).parent.mkdir(parents=True, exist_ok=True)
        (store / name).write_bytes(data)
        digest = "0" * 32 if name == wrong else hashlib.md5(data).hexdigest()
        lines.append(f"{digest}  {name}\n")
    meta = tmp_path / "metadata"
    meta.mkdir()
    (meta / "gpt-j-model-checkpoint.uri").write_text(store.as_uri() + "\n")
    (meta / "gpt-j-model-checkpoint.md5").write_text("".join(lines))
    return (meta / "gpt-j-model-checkpoint.uri").as_uri()


def test_checkpoint_fetch_from_a_mirror_gives_a_folder_the_model_runs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_tiny_checkpoint(source / "checkpoint-final", seed=3)
    files = {str(p.relative_to(source)): p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file()}
    url = _mirror(tmp_path, files)
    dest = tmp_path / "models" / "gptj"
    assert fetch_gptj_checkpoint.main(["--dest", str(dest), "--metadata-url", url]) == 0
    folder = dest / "checkpoint-final"
    assert (folder / "config.json").is_file() and (folder / "vocab.json").is_file()
    model = GptJ(weights=folder)
    assert model.checkpoint_dir(tmp_path / "cache") == folder and model.generation.eos_token_id == 2047
    generator = model.torch_generator("cpu", "fp32", 1)
    generator.admit(0, np.arange(20, dtype=np.int32))
    assert generator.slots == 1 and any(generator.active)


def test_generic_weights_script_points_at_the_checkpoint_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch_weights.main(["--model", "gptj"]) == 2
    assert "scripts/fetch_gptj_checkpoint.py" in capsys.readouterr().err


def test_checkpoint_fetch_refuses_a_wrong_md5(tmp_path: Path) -> None:
    url = _mirror(tmp_path, {"checkpoint-final/config.json": b"{}", "checkpoint-final/w.bin": b"x"},
                  wrong="checkpoint-final/w.bin")
    dest = tmp_path / "out"
    assert fetch_gptj_checkpoint.main(["--dest", str(dest), "--metadata-url", url]) == 1
    assert not (dest / "checkpoint-final" / "w.bin").exists()


def test_missing_or_broken_checkpoints_say_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as info:
        GptJ(weights=tmp_path / "nowhere").checkpoint_dir(tmp_path)
    assert "scripts/fetch_gptj_checkpoint.py" in str(info.value.fix)
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(HarnessError, match="no config.json"):
        GptJ(weights=tmp_path / "ckpt").checkpoint_dir(tmp_path)
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    with pytest.raises(HarnessError, match="no weight files"):
        GptJ(weights=tmp_path / "ckpt").checkpoint_dir(tmp_path)


def test_cnndm_records_are_download_cnndm_pys(tmp_path: Path) -> None:
    rows = [{"article": "Article é one.", "highlights": "One .", "id": "a1"},
            {"article": "Article two.", "highlights": "Two .", "id": "b2"}]
    fetch_cnndm.write_json(fetch_cnndm.records(rows), tmp_path / "cnn_eval.json")
    text = (tmp_path / "cnn_eval.json").read_text(encoding="utf-8")
    assert "é" in text and '\n    {\n        "instruction": "Summarize the following news article:",' in text
    dataset = CnnDailyMailDataset(tmp_path, TOKENIZER_DIR, tmp_path / "cache")
    assert dataset.targets == ["One .", "Two ."] and not dataset.is_demo
    calibration = fetch_cnndm.calibration_records(rows, ["b2", "a1"])
    assert [r["input"] for r in calibration] == ["Article two.", "Article é one."]
    with pytest.raises(fetch_cnndm.DownloadError, match="not in the training split"):
        fetch_cnndm.calibration_records(rows, ["zz"])
    assert len(fetch_cnndm.CALIBRATION_LIST.read_text().split()) == 1000


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_cnndm_fetch_without_pyarrow_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "validation-00000-of-00001.parquet").write_bytes(b"PAR1")
    assert fetch_cnndm.main(["--dest", str(tmp_path / "cnndm"), "--base-url", mirror.as_uri()]) == 1
    assert "pip install pyarrow" in capsys.readouterr().err
    assert not (tmp_path / "cnndm" / "cnn_eval.json").exists()


def test_fast_path_refuses_a_checkpoint_whose_generation_config_changes_beam_search(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint-final"
    write_tiny_checkpoint(folder)
    (folder / "generation_config.json").write_text('{"eos_token_id": 2047, "repetition_penalty": 1.2}')
    with pytest.raises(HarnessError, match="repetition_penalty") as info:
        GptJ(weights=folder).torch_generator("cpu", "fp32", 1)
    assert "generator=reference" in str(info.value.fix)
