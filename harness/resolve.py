"""Turn a RunSpec into everything one run needs: model, rules, system, knobs, backend, data, weights."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.backends import backend_class, choose_auto
from harness.devices import HostInfo, detect_host
from harness.errors import HarnessError
from harness.rules import ModelRules, Rules, load_rules
from harness.spec import RunSpec, default_data_root
from harness.systems import Knobs, System, apply_overrides, resolve_system
from models import get_model_class
from models.base import ModelSpec


@dataclass
class ResolvedRun:
    spec: RunSpec
    model: ModelSpec
    rules: Rules
    model_rules: ModelRules
    host: HostInfo
    system: System
    backend_name: str
    backend_reason: str
    knobs: Knobs
    target_qps: float
    data_dir: Path
    demo: bool
    data_note: str
    # The MLPerf benchmark name this run counts for (e.g. bert-99.9 when the user asked for it).
    mlperf_model: str = ""
    warnings: list[str] = field(default_factory=list)


def _check_scenario(model_cls: type[ModelSpec], model_rules: ModelRules, scenario: str) -> None:
    if scenario not in model_cls.scenarios or scenario not in model_rules.scenarios:
        have = ", ".join(s.lower() for s in model_cls.scenarios)
        raise HarnessError(f"{model_cls.name} has no {scenario} scenario in MLPerf datacenter",
                           f"{model_cls.name} runs: {have}")


def _pick_backend(spec: RunSpec, host: HostInfo) -> tuple[str, str]:
    if spec.backend.strip().lower() == "auto":
        return choose_auto(host, spec.device)
    cls = backend_class(spec.backend)
    usable, why = cls.availability()
    if not usable:
        raise HarnessError(f"backend '{cls.name}' cannot run here: {why}", "install it, or use BACKEND=auto")
    return cls.name, "asked for"


def _resolve_weights(spec: RunSpec, model_cls: type[ModelSpec], backend: str, warnings: list[str]) -> Path | None:
    if spec.weights is not None:
        if not spec.weights.is_file():
            raise HarnessError(f"weights file {spec.weights} not found",
                               f"fetch it with {model_cls.weights_hint or 'the model fetch script'}, "
                               "or leave out --weights to run with random weights")
        return spec.weights
    if backend == "null":
        return None
    defaults: dict[str, str] = getattr(model_cls, "default_weights", {})
    models_dir = default_data_root() / "models"
    order = ["torch"] if backend == "torch" else ["onnx", "torch"]
    for kind in order:
        name = defaults.get(kind)
        if name and (models_dir / name).is_file():
            return models_dir / name
    return None


def _demo_dir(model_cls: type[ModelSpec], cache_dir: Path, count: int) -> Path:
    """Generate the demo set once (atomically) and return its folder."""
    dest = cache_dir / "demo" / f"{model_cls.name}-{count}"
    if dest.is_dir():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    model_cls().write_demo_data(partial, count)
    os.replace(partial, dest)
    return dest


def _resolve_data(spec: RunSpec, model_cls: type[ModelSpec]) -> tuple[Path, bool, str]:
    if spec.data_dir is not None:
        if not spec.data_dir.is_dir():
            raise HarnessError(
                f"dataset directory {spec.data_dir} not found",
                f"fetch it with {model_cls.fetch_hint}, or run on built-in demo data with --demo "
                "(make run ... DEMO=1)")
        return spec.data_dir, False, f"dataset at {spec.data_dir}"
    default = default_data_root() / model_cls.data_subdir
    if not spec.demo and default.is_dir():
        return default, False, f"dataset at {default}"
    count = spec.demo_samples or model_cls.demo_sample_count
    why = "--demo given" if spec.demo else f"no dataset at {default}"
    return _demo_dir(model_cls, spec.cache_dir, count), True, (
        f"{why}; {model_cls.fetch_hint} gets the real one")


def resolve(spec: RunSpec) -> ResolvedRun:
    model_cls = get_model_class(spec.model)
    rules = load_rules(spec.rules_round)
    model_rules = rules.model(model_cls.loadgen_name)
    _check_scenario(model_cls, model_rules, spec.scenario)
    host = detect_host()
    if spec.device == "cuda" and not host.gpus:
        raise HarnessError("a GPU was asked for (--device cuda), but none is visible",
                           "check nvidia-smi and CUDA_VISIBLE_DEVICES, or drop --device cuda")
    system = resolve_system(spec.system, host)
    warnings = list(system.notes)
    backend_name, backend_reason = _pick_backend(spec, host)
    if not system.has_entry(model_cls.name, spec.scenario):
        warnings.append(f"system '{system.name}' has no {model_cls.name} {spec.scenario} entry: using default "
                        "knobs (batch 1); add one to its configs/systems file")
    knobs = system.knobs(model_cls.name, spec.scenario, backend_name)
    if spec.batch_size is not None:
        knobs = replace(knobs, batch_size=spec.batch_size)
    knobs = apply_overrides(knobs, spec.knob_overrides)
    configured = knobs.server_target_qps if spec.scenario == "Server" else knobs.offline_expected_qps
    target_qps = spec.target_qps or configured
    if target_qps is None:
        target_qps = 1.0
        warnings.append(f"no target QPS configured for {model_cls.name} {spec.scenario} on '{system.name}': "
                        "using 1; pass --target-qps")
    weights = _resolve_weights(spec, model_cls, backend_name, warnings)
    data_dir, demo, data_note = _resolve_data(spec, model_cls)
    model = model_cls(weights=weights)
    asked = spec.model.strip().lower()
    mlperf_model = asked if asked in model_cls.mlperf_names else model_cls.mlperf_names[0]
    return ResolvedRun(spec, model, rules, model_rules, host, system, backend_name, backend_reason, knobs,
                       float(target_qps), data_dir, demo, data_note, mlperf_model, warnings)
