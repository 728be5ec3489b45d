"""The engine cache under build/engines/: where a plan lives, and whether a plan there may be used.

A plan is only valid for the ONNX, precision, shapes and builder settings it was built from, on the
GPU model (and compute capability) and TensorRT version that built it. All of that is the EngineKey;
a JSON file beside the plan records the key and the plan's sha256, so a plan copied from another
machine, built by another TensorRT, or cut short is found out before TensorRT is asked to load it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.common import file_sha256
from harness.machine.host import slug

CACHE_FORMAT = 2


@dataclass(frozen=True)
class EngineKey:
    """Everything a plan depends on."""

    model: str
    onnx_sha256: str
    precision: str
    # Per optimization profile, per input (graph name): (min, opt, max) shapes.
    profiles: tuple[tuple[tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...], ...]
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    workspace_mib: int | None = None
    builder_optimization_level: int | None = None
    # sha256 of the calibration inputs (list + samples) for int8, else "".
    calibration: str = ""
    # Which TensorRT built it (flavour.py): tensorrt | tensorrt_rtx.
    flavour: str = "tensorrt"

    @property
    def max_batch(self) -> int:
        return max((entry[3][0] for profile in self.profiles for entry in profile if entry[3]), default=1)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))  # tuples -> lists, as they are stored

    def digest(self) -> str:
        text = json.dumps({"format": CACHE_FORMAT, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def relative_path(self) -> Path:
        """<model>/<gpu>-sm<cc>/<trt|rtx><version>/<precision>-b<max batch>-p<profiles>-<onnx>-<digest>.plan"""
        gpu = f"{slug(self.gpu_name)}-sm{self.compute_capability.replace('.', '')}"
        name = (f"{self.precision}-b{self.max_batch}-p{len(self.profiles)}-{self.onnx_sha256[:8]}-"
                f"{self.digest()[:12]}.plan")
        library = "rtx" if self.flavour == "tensorrt_rtx" else "trt"
        return Path(self.model) / gpu / f"{library}{self.tensorrt_version}" / name


@dataclass
class Lookup:
    """What the cache holds for a key: status hit | miss | stale | corrupt, and why (for the user)."""

    status: str
    plan: Path
    reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.status == "hit"


def meta_path(plan: Path) -> Path:
    return plan.with_suffix(".json")


_FIELD_WORDS = {"flavour": "TensorRT flavour", "tensorrt_version": "TensorRT version", "gpu_name": "GPU",
                "compute_capability": "compute capability",
                "onnx_sha256": "ONNX file", "profiles": "optimization profiles (batch sizes, streams)",
                "precision": "precision", "calibration": "calibration data", "workspace_mib": "workspace limit",
                "builder_optimization_level": "builder optimization level", "model": "model"}


def describe_difference(stored: dict[str, Any], wanted: dict[str, Any]) -> str:
    """'built for TensorRT version 10.3.0, GPU NVIDIA A100 (now 10.13.0, NVIDIA H100)' style text."""
    diffs = []
    for name, words in _FIELD_WORDS.items():
        if stored.get(name) != wanted.get(name):
            have, want = stored.get(name), wanted.get(name)
            if name in ("profiles", "onnx_sha256", "calibration"):
                diffs.append(f"{words} differ")
            else:
                diffs.append(f"{words} {have} (now {want})")
    return "built for " + ", ".join(diffs) if diffs else "its key differs"


class EngineCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def plan_path(self, key: EngineKey) -> Path:
        return self.root / key.relative_path()

    def lookup(self, key: EngineKey) -> Lookup:
        plan = self.plan_path(key)
        meta_file = meta_path(plan)
        if not plan.exists():
            return Lookup("miss", plan, self._miss_reason(key))
        if not meta_file.is_file():
            return Lookup("corrupt", plan, f"{plan.name} has no {meta_file.name} beside it (unknown origin)")
        try:
            meta = json.loads(meta_file.read_text())
            stored_key = meta["key"]
            stored_sha = meta["plan_sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return Lookup("corrupt", plan, f"{meta_file.name} is unreadable ({exc})")
        if stored_key != key.to_dict():
            return Lookup("stale", plan, describe_difference(stored_key, key.to_dict()), meta)
        size = plan.stat().st_size
        if size != meta.get("plan_bytes"):
            return Lookup("corrupt", plan, f"{plan.name} has {size} bytes, {meta.get('plan_bytes')} were written",
                          meta)
        if file_sha256(plan) != stored_sha:
            return Lookup("corrupt", plan, f"{plan.name} does not match the checksum recorded when it was built",
                          meta)
        return Lookup("hit", plan, "", meta)

    def _miss_reason(self, key: EngineKey) -> str:
        """Say what other engines exist for this model, e.g. ones built on another GPU or TensorRT."""
        others = []
        model_dir = self.root / key.model
        if model_dir.is_dir():
            for meta_file in sorted(model_dir.glob("*/*/*.json")):
                try:
                    stored = json.loads(meta_file.read_text())["key"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                if stored.get("precision") == key.precision:
                    others.append(describe_difference(stored, key.to_dict()))
        if not others:
            return "no engine built yet"
        return "no engine for this key; found one " + others[0] + (f" (+{len(others) - 1} more)" if others[1:] else "")

    def store(self, key: EngineKey, plan_bytes: bytes | memoryview, extra: dict[str, Any] | None = None) -> Path:
        """Write the plan, then its metadata, each atomically; returns the plan path."""
        plan = self.plan_path(key)
        plan.parent.mkdir(parents=True, exist_ok=True)
        data = bytes(plan_bytes)
        _atomic_write(plan, data)
        meta = {"format": CACHE_FORMAT, "key": key.to_dict(), "plan_sha256": hashlib.sha256(data).hexdigest(),
                "plan_bytes": len(data), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(extra or {})}
        _atomic_write(meta_path(plan), (json.dumps(meta, indent=1) + "\n").encode())
        return plan

    def discard(self, plan: Path) -> None:
        for path in (plan, meta_path(plan)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    @contextmanager
    def build_lock(self, key: EngineKey) -> Iterator[None]:
        """One builder per plan across processes (two runs starting at once build it once)."""
        lock = self.plan_path(key).with_suffix(".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def calibration_cache_path(root: Path, model: str, onnx_sha256: str, calibration: str) -> Path:
    """The INT8 calibration cache, beside the model's engines and shared by all of them.

    Scales depend on the network and the calibration samples, not on batch size or streams, so a
    rebuild for other knobs reuses it; TensorRT itself ignores a cache written by another version.
    """
    return root / model / "calibration" / f"{onnx_sha256[:12]}-{calibration[:12]}.cache"
