"""Engine cache: keys, where plans live, and how stale or damaged plans are found out (no TensorRT needed)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.backends.tensorrt.engine_cache import EngineCache, EngineKey, calibration_cache_path, meta_path

PROFILE = ((("input", (1, 3, 224, 224), (64, 3, 224, 224), (64, 3, 224, 224)),),)


def key(**changes: Any) -> EngineKey:
    base = EngineKey("resnet50", "ab" * 32, "int8", PROFILE, "NVIDIA H100 80GB HBM3", "9.0", "10.13.0.35",
                     workspace_mib=4096, builder_optimization_level=3, calibration="cd" * 32)
    return replace(base, **changes)


def test_every_field_changes_the_digest() -> None:
    digests = {key().digest()}
    changes: list[dict[str, Any]] = [{"model": "bert"}, {"onnx_sha256": "ef" * 32}, {"precision": "fp16"},
                   {"profiles": PROFILE * 2}, {"gpu_name": "NVIDIA A100-SXM4-80GB"}, {"compute_capability": "8.0"},
                   {"tensorrt_version": "10.3.0"}, {"workspace_mib": None}, {"builder_optimization_level": 5},
                   {"calibration": ""}, {"flavour": "tensorrt_rtx"}]
    for change in changes:
        digests.add(key(**change).digest())
    assert len(digests) == 12
    assert key().digest() == key().digest()


def test_path_names_what_the_plan_is_for() -> None:
    path = key().relative_path()
    assert path.parts[0] == "resnet50"
    assert path.parts[1] == "nvidia_h100_80gb_hbm3-sm90"
    assert path.parts[2] == "trt10.13.0.35"
    assert path.name.startswith("int8-b64-p1-abababab-") and path.suffix == ".plan"
    assert key().max_batch == 64
    rtx = key(flavour="tensorrt_rtx", tensorrt_version="1.7.1.116", gpu_name="NVIDIA L40S",
              compute_capability="8.9").relative_path()
    assert rtx.parts[1:3] == ("nvidia_l40s-sm89", "rtx1.7.1.116")


def test_store_then_hit(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    plan = cache.store(key(), b"plan-bytes" * 100, {"build_s": 1.5})
    found = cache.lookup(key())
    assert found.status == "hit" and found.usable and found.plan == plan
    assert found.meta["build_s"] == 1.5 and found.meta["plan_bytes"] == 1000
    assert not list(tmp_path.rglob("*.partial"))


def test_miss_names_engines_built_for_another_gpu_or_tensorrt(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.lookup(key()).reason == "no engine built yet"
    cache.store(key(tensorrt_version="10.3.0", gpu_name="NVIDIA A100-SXM4-80GB", compute_capability="8.0"), b"x")
    found = cache.lookup(key())
    assert found.status == "miss"
    assert "TensorRT version 10.3.0 (now 10.13.0.35)" in found.reason
    assert "GPU NVIDIA A100-SXM4-80GB (now NVIDIA H100 80GB HBM3)" in found.reason
    assert "compute capability 8.0 (now 9.0)" in found.reason
    other = EngineCache(tmp_path / "other")
    other.store(key(flavour="tensorrt_rtx", tensorrt_version="1.7.1.116"), b"y")
    assert "TensorRT flavour tensorrt_rtx (now tensorrt)" in other.lookup(key()).reason


def test_copied_plan_with_foreign_metadata_is_stale(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    other = cache.store(key(tensorrt_version="10.3.0"), b"old plan")
    target = cache.plan_path(key())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(other.read_bytes())
    meta_path(target).write_text(meta_path(other).read_text())
    found = cache.lookup(key())
    assert found.status == "stale" and not found.usable
    assert "TensorRT version 10.3.0 (now 10.13.0.35)" in found.reason


def test_truncated_flipped_and_orphaned_plans_are_corrupt(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    plan = cache.store(key(), b"0123456789" * 10)
    plan.write_bytes(b"0123456789" * 5)
    assert cache.lookup(key()).status == "corrupt"
    assert "50 bytes, 100 were written" in cache.lookup(key()).reason
    plan.write_bytes(b"1123456789" + b"0123456789" * 9)  # same size, one byte changed
    found = cache.lookup(key())
    assert found.status == "corrupt" and "checksum" in found.reason
    meta_path(plan).write_text("{not json")
    assert cache.lookup(key()).status == "corrupt" and "unreadable" in cache.lookup(key()).reason
    meta_path(plan).unlink()
    assert "unknown origin" in cache.lookup(key()).reason
    cache.discard(plan)
    assert not plan.exists() and cache.lookup(key()).status == "miss"


def test_metadata_records_key_and_checksum(tmp_path: Path) -> None:
    plan = EngineCache(tmp_path).store(key(), b"abc")
    meta = json.loads(meta_path(plan).read_text())
    assert meta["key"]["tensorrt_version"] == "10.13.0.35"
    assert meta["key"]["profiles"] == [[["input", [1, 3, 224, 224], [64, 3, 224, 224], [64, 3, 224, 224]]]]
    assert meta["plan_sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_build_lock_serializes_builders(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    order: list[str] = []

    def build(name: str) -> None:
        with cache.build_lock(key()):
            order.append(f"{name}-start")
            threading.Event().wait(0.05)
            order.append(f"{name}-end")

    threads = [threading.Thread(target=build, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order[0][0] == order[1][0] and order[2][0] == order[3][0]  # no interleaving


def test_calibration_cache_is_shared_across_batch_sizes(tmp_path: Path) -> None:
    a = calibration_cache_path(tmp_path, "resnet50", "ab" * 32, "cd" * 32)
    assert a == tmp_path / "resnet50" / "calibration" / "abababababab-cdcdcdcdcdcd.cache"
    assert a != calibration_cache_path(tmp_path, "resnet50", "ab" * 32, "ef" * 32)
