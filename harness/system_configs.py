"""System knob files (configs/systems/<name>.yaml): per model x scenario knobs, and SYSTEM=auto matching.

A file sets knobs per model x scenario; keys may sit flat in the entry (a backend's key then applies
when that backend runs) or in a ``by_backend.<name>`` section. Every key is checked against its owner's
type (harness.knobs) when the file loads: an unknown key, backend or model, or a value of the wrong
type, names the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import options as opt
from harness.config import configs_dir, load_yaml
from harness.errors import HarnessError
from harness.knobs import RUN_OPTION_NAMES, Knobs, RunOptions, all_backend_options, check_entry, model_options, split
from harness.machine.host import HostInfo, slug
from harness.rules import normalize_scenario

_TOP_KEYS = frozenset({"name", "description", "gpu", "benchmarks"})
_GPU_KEYS = frozenset({"model", "match", "count", "memory_gb"})
_GPU_REQUIRED = ("model", "match", "count")


@dataclass(frozen=True)
class GpuRequirement:
    model: str
    match: str
    count: int
    memory_gb: float = 0.0

    def matches(self, gpu_name: str) -> bool:
        return re.search(self.match, gpu_name, flags=re.IGNORECASE) is not None


@dataclass(frozen=True)
class System:
    name: str
    description: str
    gpu: GpuRequirement | None
    # benchmarks[model][scenario] -> raw knob mapping (may hold a by_backend section)
    benchmarks: dict[str, dict[str, dict[str, Any]]]
    path: Path | None = None
    # How SYSTEM=auto got here, when it was not an exact match.
    derived_from: str | None = None
    scale: float = 1.0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Knobs found on this machine by `harness search --write`: searched[model][scenario][backend] -> knobs.
    searched: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)

    def knobs(self, model: str, scenario: str, backend: str) -> Knobs:
        """Defaults <- the scenario entry <- its by_backend.<backend> section, scaled for derived systems,
        <- what a search found for this backend (never scaled: it was measured here)."""
        entry = dict(self.benchmarks.get(model, {}).get(scenario, {}))
        per_backend = entry.pop("by_backend", {}) or {}
        values = {**entry, **(per_backend.get(backend) or {})}
        where = f"{self.path or self.name}: benchmarks.{model}.{scenario}"
        knobs = split(values, model, backend, where)
        if self.scale != 1.0:
            knobs = replace(knobs, run=knobs.run.scaled(self.scale))
        found = self.searched.get(model, {}).get(scenario, {}).get(backend)
        return replace(knobs, run=replace(knobs.run, **found)) if found else knobs

    def has_entry(self, model: str, scenario: str) -> bool:
        return scenario in self.benchmarks.get(model, {})


def _gpu(path: Path, raw: Any) -> GpuRequirement | None:
    if not raw:
        return None
    where = f"{path}: gpu"
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping with {', '.join(_GPU_REQUIRED)}, got {raw!r}")
    for key in raw:
        if key not in _GPU_KEYS:
            raise opt.unknown_key(where, key, _GPU_KEYS)
    missing = [k for k in _GPU_REQUIRED if k not in raw]
    if missing:
        raise HarnessError(f"{where}: missing {', '.join(missing)}",
                           "e.g. gpu: {model: NVIDIA H100-SXM-80GB, match: \"H100.*SXM\", count: 1, memory_gb: 80}")
    count, memory = raw["count"], raw.get("memory_gb", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise HarnessError(f"{where}: count must be a positive integer, got {count!r}")
    if isinstance(memory, bool) or not isinstance(memory, (int, float)) or memory < 0:
        raise HarnessError(f"{where}: memory_gb must be a number of GB, got {memory!r}")
    try:
        re.compile(str(raw["match"]))
    except re.error as exc:
        raise HarnessError(f"{where}: match is not a regular expression: {exc}") from None
    return GpuRequirement(str(raw["model"]), str(raw["match"]), count, float(memory))


def _canonical_model(path: Path, name: Any) -> str:
    from models import get_model_class

    try:
        canonical: str = get_model_class(str(name)).name
    except HarnessError as exc:
        raise HarnessError(f"{path}: benchmarks: {exc.message}", exc.fix) from None
    return canonical


def parse_system(path: Path) -> System:
    data = load_yaml(path)
    for key in data:
        if key not in _TOP_KEYS:
            raise opt.unknown_key(str(path), key, _TOP_KEYS)
    gpu = _gpu(path, data.get("gpu"))
    benchmarks: dict[str, dict[str, dict[str, Any]]] = {}
    raw_benchmarks = data.get("benchmarks") or {}
    if not isinstance(raw_benchmarks, dict):
        raise HarnessError(f"{path}: benchmarks must be a mapping of model -> scenario -> knobs")
    backends = all_backend_options()
    for raw_model, per_scenario in raw_benchmarks.items():
        model = _canonical_model(path, raw_model)
        benchmarks[model] = {}
        if not isinstance(per_scenario or {}, dict):
            raise HarnessError(f"{path}: benchmarks.{raw_model} must map scenarios to knobs")
        for scenario, entry in (per_scenario or {}).items():
            canonical = normalize_scenario(str(scenario), where=f"{path}: benchmarks.{raw_model}")
            where = f"{path}: benchmarks.{raw_model}.{scenario}"
            if not isinstance(entry or {}, dict):
                raise HarnessError(f"{where}: expected a mapping of knobs, got {entry!r}")
            entry = dict(entry or {})
            raw_sections = entry.pop("by_backend", None) or {}
            if not isinstance(raw_sections, dict):
                raise HarnessError(f"{where}.by_backend: expected backend -> knobs, got {raw_sections!r}")
            own = [("run", RunOptions), ("model", model_options(model))]
            check_entry(where, entry, own, backends)
            # YAML reads a bare `null:` key as None: that is the null backend.
            sections: dict[str, dict[str, Any]] = {}
            for raw_backend, section in raw_sections.items():
                backend = "null" if raw_backend is None else str(raw_backend)
                if backend not in backends:
                    raise opt.unknown_key(f"{where}.by_backend", backend, backends)
                section_where = f"{where}.by_backend.{backend}"
                if not isinstance(section or {}, dict):
                    raise HarnessError(f"{section_where}: expected a mapping of knobs, got {section!r}")
                sections[backend] = dict(section or {})
                check_entry(section_where, sections[backend], own + [("backend", backends[backend])])
                split({**entry, **sections[backend]}, model, backend, section_where)
            for backend in backends:
                if backend not in sections:
                    split(entry, model, backend, where)
            if sections:
                entry["by_backend"] = sections
            benchmarks[model][canonical] = entry
    return System(str(data.get("name", path.stem)), str(data.get("description", "")), gpu, benchmarks, path)


def _load_searched(name: str) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    path = configs_dir() / "systems" / "searched" / f"{name}.yaml"
    if not path.is_file():
        return {}
    data = load_yaml(path)
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for model, per_scenario in data.items():
        for scenario, per_backend in (per_scenario or {}).items():
            canonical = normalize_scenario(str(scenario), where=str(path))
            for backend, entry in (per_backend or {}).items():
                knobs = dict((entry or {}).get("knobs") or {})
                where = f"{path}: {model}.{scenario}.{backend}.knobs"
                for key, value in knobs.items():
                    if key not in RUN_OPTION_NAMES:
                        raise opt.unknown_key(where, key, RUN_OPTION_NAMES)
                    opt.schema(RunOptions)[key].check(value, where)
                out.setdefault(str(model), {}).setdefault(canonical, {})[str(backend)] = knobs
    return out


def system_names() -> list[str]:
    return sorted(p.stem for p in (configs_dir() / "systems").glob("*.yaml"))


def load_system(name: str) -> System:
    path = configs_dir() / "systems" / f"{name}.yaml"
    if not path.is_file():
        raise HarnessError(f"unknown system '{name}'",
                           "known systems: " + ", ".join(system_names()) + " (or SYSTEM=auto)")
    system = parse_system(path)
    return replace(system, searched=_load_searched(system.name))


def all_systems() -> list[System]:
    return [load_system(n) for n in system_names()]


def match_system(host: HostInfo) -> System:
    """SYSTEM=auto: the config for this machine, derived from the nearest known one if needed."""
    systems = all_systems()
    if not host.gpus:
        cpu = [s for s in systems if s.gpu is None]
        if not cpu:
            raise HarnessError("no CPU system config (configs/systems/cpu.yaml) found")
        return cpu[0]
    gpu_name = host.gpus[0].name
    count = len(host.gpus)
    gpu_systems = [s for s in systems if s.gpu is not None]
    same_model = [s for s in gpu_systems if s.gpu is not None and s.gpu.matches(gpu_name)]
    for system in same_model:
        if system.gpu is not None and system.gpu.count == count:
            return system
    if same_model:
        base = min(same_model, key=lambda s: abs((s.gpu.count if s.gpu else 1) - count))
        note = (f"no config for {count}x {gpu_name}: using {base.name} with target QPS scaled "
                f"by {count}/{base.gpu.count if base.gpu else 1}")
    else:
        if not gpu_systems:
            raise HarnessError("no GPU system configs in configs/systems/")
        memory_gb = host.gpus[0].memory_mib / 1024
        base = min(gpu_systems, key=lambda s: (abs((s.gpu.memory_gb if s.gpu else 0) - memory_gb),
                                               abs((s.gpu.count if s.gpu else 1) - count)))
        note = (f"unknown GPU '{gpu_name}': borrowing knobs from {base.name} (nearest GPU memory), "
                f"target QPS scaled by GPU count; they are guesses: run `python -m harness search` "
                f"or add configs/systems/{slug(gpu_name)}_x{count}.yaml")
    assert base.gpu is not None
    factor = count / base.gpu.count
    requirement = GpuRequirement(gpu_name, re.escape(gpu_name), count, host.gpus[0].memory_mib / 1024)
    stem = re.sub(r"_x\d+$", "", base.name) if same_model else slug(gpu_name)
    name = f"{stem}_x{count}"
    return replace(base, name=name, gpu=requirement, derived_from=base.name, scale=factor, notes=(note,),
                   searched=_load_searched(name))


def resolve_system(name: str, host: HostInfo) -> System:
    if name.strip().lower() == "auto":
        return match_system(host)
    system = load_system(name.strip())
    if system.gpu is not None:
        if not host.gpus:
            raise HarnessError(
                f"system '{system.name}' expects {system.gpu.count}x {system.gpu.model}, but no GPU is visible",
                "check nvidia-smi and CUDA_VISIBLE_DEVICES, or run SYSTEM=auto / SYSTEM=cpu",
            )
        if not system.gpu.matches(host.gpus[0].name) or len(host.gpus) != system.gpu.count:
            system = replace(system, notes=system.notes + (
                f"system '{system.name}' describes {system.gpu.count}x {system.gpu.model}; this machine has "
                f"{len(host.gpus)}x {host.gpus[0].name}",))
    return system
