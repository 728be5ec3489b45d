"""Turn a RunSpec into everything one run needs: model, rules, system, knobs, backend, data, weights."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.backends import Backend, backend_class, backend_names, offering
from harness.errors import HarnessError
from harness.knobs import Knobs, apply_overrides
from harness.machine.host import HostInfo, detect_host
from harness.rules import ModelRules, Rules, load_rules
from harness.spec import RunSpec, default_data_root
from harness.system_configs import System, resolve_system
from models import get_model_class
from models.base import ModelSpec

# BACKEND=auto tries these in order (names not registered are skipped).
AUTO_ON_GPU = ("tensorrt-llm", "tensorrt", "torch")
AUTO_ON_CPU = ("onnxruntime", "torch")


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

    @property
    def runner_kind(self) -> str:
        return self.model.program.needs


def _check_scenario(model_cls: type[ModelSpec], model_rules: ModelRules, scenario: str) -> None:
    if scenario not in model_cls.scenarios or scenario not in model_rules.scenarios:
        have = ", ".join(s.lower() for s in model_cls.scenarios)
        raise HarnessError(f"{model_cls.name} has no {scenario} scenario in MLPerf datacenter",
                           f"{model_cls.name} runs: {have}")


def _mismatch(model_cls: type[ModelSpec], cls: type[Backend]) -> HarnessError:
    kind = model_cls.program.needs
    program = model_cls.program.__name__
    able = [n for n in offering(kind) if backend_class(n).can_build(kind, model_cls)]
    if kind not in cls.offers:
        what = f"backend {cls.name} offers only {' and '.join(cls.offers)} runners"
    else:
        what = (f"backend {cls.name} builds {kind} runners from {' or '.join(cls.consumes.get(kind, ()))}, and "
                f"{model_cls.name} offers {', '.join(model_cls.artefacts) or 'nothing'}")
    return HarnessError(f"{model_cls.name} needs a {kind} runner (its program is {program}), but {what}",
                        "use --backend " + (" or ".join(able) if able else "auto"))


def _no_gpu_for_cuda() -> HarnessError:
    return HarnessError("a GPU was asked for (--device cuda), but none is visible",
                        "check nvidia-smi and CUDA_VISIBLE_DEVICES, or drop --device cuda")


def choose_backend(host: HostInfo, device: str, model_cls: type[ModelSpec]) -> tuple[str, str]:
    """BACKEND=auto: on a GPU the first usable of AUTO_ON_GPU, else AUTO_ON_CPU; the reason is recorded."""
    kind = model_cls.program.needs
    registered = set(backend_names())
    skipped: list[str] = []
    if host.gpus and device != "cpu":
        gpu = f"{len(host.gpus)}x {host.gpus[0].name}"
        for name in (n for n in AUTO_ON_GPU if n in registered):
            cls = backend_class(name)
            if not cls.can_build(kind, model_cls):
                continue
            usable, why = cls.availability()
            if usable and cls.gpu_usable():
                found = f"{gpu} found and the {name} module imports" if not skipped else \
                    f"{gpu} found; {'; '.join(skipped)}: {name} on CUDA"
                return name, found
            skipped.append(f"{name} unusable ({why or 'it cannot use the GPU here'})")
        on_cpu = next((n for n in AUTO_ON_CPU if n in registered and backend_class(n).can_build(kind, model_cls)
                       and backend_class(n).availability()[0]), None)
        if on_cpu is None:
            raise _mismatch(model_cls, backend_class("torch"))
        return on_cpu, f"{gpu} found but {'; '.join(skipped) or 'no GPU backend fits'}: {on_cpu} on the CPU"
    if device == "cuda":
        raise _no_gpu_for_cuda()
    for name in (n for n in AUTO_ON_CPU if n in registered):
        cls = backend_class(name)
        if not cls.can_build(kind, model_cls):
            skipped.append(f"{name} builds no {kind} runner for {model_cls.name}")
            continue
        usable, why = cls.availability()
        if usable:
            label = "ONNX Runtime" if name == "onnxruntime" else name
            return name, f"no GPU: {label} on the CPU" + (f" ({'; '.join(skipped)})" if skipped else "")
        skipped.append(f"{name}: {why}")
    raise HarnessError(f"no backend can run {model_cls.name} here: {'; '.join(skipped)}",
                       "install torch or onnxruntime")


def _pick_backend(spec: RunSpec, host: HostInfo, model_cls: type[ModelSpec]) -> tuple[str, str]:
    if spec.backend.strip().lower() == "auto":
        return choose_backend(host, spec.device, model_cls)
    cls = backend_class(spec.backend)
    if not cls.can_build(model_cls.program.needs, model_cls):
        raise _mismatch(model_cls, cls)
    usable, why = cls.availability()
    if not usable:
        raise HarnessError(f"backend '{cls.name}' cannot run here: {why}", "install it, or use BACKEND=auto")
    return cls.name, "asked for"


def _resolve_weights(spec: RunSpec, model_cls: type[ModelSpec], backend: type[Backend]) -> Path | None:
    if spec.weights is not None:
        if not spec.weights.exists():
            raise HarnessError(f"weights file {spec.weights} not found",
                               f"fetch it with {model_cls.weights_hint()}, "
                               "or leave out --weights to run with random weights")
        return spec.weights
    models_dir = default_data_root() / "models"
    for kind in backend.weights_kinds:
        found = model_cls.weights_for(kind)
        if found is not None and (models_dir / found.file).exists():
            return models_dir / found.file
    return None


def _demo_dir(model_cls: type[ModelSpec], cache_dir: Path, count: int) -> Path:
    """Generate the demo set once and return its folder. Each process writes its own temporary folder and
    renames it into place; when several generate at once, the first rename wins and the others (the same
    seeded data) drop theirs."""
    dest = cache_dir / "demo" / f"{model_cls.name}-{count}"
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    _drop_stale_partials(dest)
    partial = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model_cls().write_demo_data(partial, count)
        try:
            os.rename(partial, dest)
        except OSError:
            if not dest.is_dir():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return dest


def _drop_stale_partials(dest: Path) -> None:
    """Temporary folders of generations whose process is gone (killed midway)."""
    for partial in dest.parent.glob(f"{dest.name}.*.partial"):
        pid = partial.name[len(dest.name) + 1 : -len(".partial")]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            pass


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
    model_rules = rules.model(model_cls.loadgen_name, model_cls.own_rules)
    _check_scenario(model_cls, model_rules, spec.scenario)
    host = detect_host()
    if spec.device == "cuda" and not host.gpus:
        raise _no_gpu_for_cuda()
    system = resolve_system(spec.system, host)
    warnings = list(system.notes)
    backend_name, backend_reason = _pick_backend(spec, host, model_cls)
    backend = backend_class(backend_name)
    if not system.has_entry(model_cls.name, spec.scenario):
        warnings.append(f"system '{system.name}' has no {model_cls.name} {spec.scenario} entry: using default "
                        "knobs (batch 1); add one to its configs/systems file")
    knobs = system.knobs(model_cls.name, spec.scenario, backend_name)
    if spec.batch_size is not None:
        knobs = replace(knobs, run=replace(knobs.run, batch_size=spec.batch_size))
    knobs = apply_overrides(knobs, spec.knob_overrides)
    run = knobs.run
    configured = run.server_target_qps if spec.scenario == "Server" else run.offline_expected_qps
    target_qps = spec.target_qps or configured
    if target_qps is None:
        target_qps = 1.0
        warnings.append(f"no target QPS configured for {model_cls.name} {spec.scenario} on '{system.name}': "
                        "using 1; pass --target-qps")
    weights = _resolve_weights(spec, model_cls, backend)
    data_dir, demo, data_note = _resolve_data(spec, model_cls)
    on_gpu = bool(host.gpus) and spec.device != "cpu" and backend.gpu_usable()
    model = model_cls(weights=weights, options=knobs.model, on_gpu=on_gpu)
    asked = spec.model.strip().lower()
    mlperf_model = asked if asked in model_cls.mlperf_names else model_cls.mlperf_names[0]
    return ResolvedRun(spec, model, rules, model_rules, host, system, backend_name, backend_reason, knobs,
                       float(target_qps), data_dir, demo, data_note, mlperf_model, warnings)
