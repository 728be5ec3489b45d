"""System configs (configs/systems/<name>.yaml): per model x scenario knobs, and SYSTEM=auto matching."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.config import check_keys, configs_dir, load_yaml
from harness.devices import HostInfo, slug
from harness.errors import HarnessError

SCENARIOS = ("Offline", "Server")
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")
TORCH_COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class Knobs:
    """What a system config can set for one model x scenario (x backend)."""

    batch_size: int = 1
    # Runners (each with its own stream / execution context) per device.
    streams_per_device: int = 1
    # Server: how long the batcher waits to fill a batch after the first sample arrives.
    batch_timeout_us: int = 2000
    offline_expected_qps: float | None = None
    server_target_qps: float | None = None
    precision: str = "fp32"
    channels_last: bool = False
    # TensorRT engine build and execution (other backends ignore them).
    workspace_mib: int | None = None  # builder workspace limit; None = TensorRT's default (all GPU memory)
    builder_optimization_level: int | None = None  # 0..5; None = TensorRT's default (3)
    use_cuda_graphs: bool = False  # one CUDA graph per batch size (NVIDIA's use_graphs)
    start_from_device: bool = False  # performance samples preloaded into each GPU's memory
    # Server: let LoadGen hand over every query already due in one call (LoadGen's server_coalesce_queries).
    server_coalesce_queries: bool = False
    # torch backend: torch.compile mode (default, reduce-overhead, max-autotune, max-autotune-no-cudagraphs);
    # shapes are compiled during warm-up, outside the timed run.
    torch_compile: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise HarnessError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.streams_per_device < 1:
            raise HarnessError(f"streams_per_device must be >= 1, got {self.streams_per_device}")
        if self.batch_timeout_us < 0:
            raise HarnessError(f"batch_timeout_us must be >= 0, got {self.batch_timeout_us}")
        if self.precision not in PRECISIONS:
            raise HarnessError(f"precision '{self.precision}' unknown", "use one of " + ", ".join(PRECISIONS))
        if self.torch_compile is not None and self.torch_compile not in TORCH_COMPILE_MODES:
            raise HarnessError(f"torch_compile '{self.torch_compile}' unknown",
                               "use one of " + ", ".join(TORCH_COMPILE_MODES) + " (or leave it out)")
        for name in ("channels_last", "use_cuda_graphs", "start_from_device", "server_coalesce_queries"):
            if not isinstance(getattr(self, name), bool):
                raise HarnessError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.workspace_mib is not None and (isinstance(self.workspace_mib, bool)
                                               or not isinstance(self.workspace_mib, int) or self.workspace_mib < 1):
            raise HarnessError(f"workspace_mib must be a positive integer (MiB), got {self.workspace_mib!r}")
        level = self.builder_optimization_level
        if level is not None and (isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 5):
            raise HarnessError(f"builder_optimization_level must be an integer 0..5, got {level!r}")

    def scaled(self, factor: float) -> "Knobs":
        return replace(
            self,
            offline_expected_qps=None if self.offline_expected_qps is None else self.offline_expected_qps * factor,
            server_target_qps=None if self.server_target_qps is None else self.server_target_qps * factor,
        )


KNOB_NAMES = frozenset(f.name for f in fields(Knobs))


def _parse_knob(name: str, raw: str, expected: str) -> Any:
    text = raw.strip()
    if "bool" in expected:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise HarnessError(f"--set {name}: expected true or false, got {raw!r}")
    if "None" in expected and text.lower() in ("none", "null", ""):
        return None
    if "int" in expected:
        try:
            return int(text)
        except ValueError:
            kind = "an integer" if _is_number(text) else "a number"
            raise HarnessError(f"--set {name}: expected {kind}, got {raw!r}") from None
    if "float" in expected:
        if not _is_number(text):
            raise HarnessError(f"--set {name}: expected a number, got {raw!r}")
        return float(text)
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def apply_overrides(knobs: Knobs, overrides: tuple[str, ...] | list[str]) -> Knobs:
    """Apply "name=value" strings (from --set) with the field's type; unknown names are refused."""
    changes: dict[str, Any] = {}
    types = {f.name: str(f.type) for f in fields(Knobs)}
    for item in overrides:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep:
            raise HarnessError(f"--set {item!r}: expected KNOB=VALUE")
        if name not in KNOB_NAMES:
            raise HarnessError(f"--set: unknown knob '{name}'", "knobs: " + ", ".join(sorted(KNOB_NAMES)))
        changes[name] = _parse_knob(name, raw, types[name])
    return replace(knobs, **changes)


_TOP_KEYS = frozenset({"name", "description", "gpu", "benchmarks"})
_GPU_KEYS = frozenset({"model", "match", "count", "memory_gb"})


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
        knobs = Knobs(**values)
        if self.scale != 1.0:
            knobs = knobs.scaled(self.scale)
        found = self.searched.get(model, {}).get(scenario, {}).get(backend)
        return replace(knobs, **found) if found else knobs

    def has_entry(self, model: str, scenario: str) -> bool:
        return scenario in self.benchmarks.get(model, {})


def _parse(path: Path) -> System:
    data = load_yaml(path)
    check_keys(str(path), data, _TOP_KEYS)
    gpu = None
    if data.get("gpu"):
        check_keys(f"{path}: gpu", data["gpu"], _GPU_KEYS)
        g = data["gpu"]
        gpu = GpuRequirement(str(g["model"]), str(g["match"]), int(g["count"]), float(g.get("memory_gb", 0)))
    benchmarks: dict[str, dict[str, dict[str, Any]]] = {}
    for model, per_scenario in (data.get("benchmarks") or {}).items():
        benchmarks[model] = {}
        for scenario, entry in (per_scenario or {}).items():
            canonical = normalize_scenario(str(scenario), where=f"{path}: benchmarks.{model}")
            where = f"{path}: benchmarks.{model}.{scenario}"
            entry = dict(entry or {})
            check_keys(where, entry, KNOB_NAMES | {"by_backend"})
            # YAML reads a bare `null:` key as None: that is the null backend.
            by_backend = {("null" if b is None else str(b)): dict(v or {})
                          for b, v in (entry.get("by_backend") or {}).items()}
            for backend, section in by_backend.items():
                check_keys(f"{where}.by_backend.{backend}", section, KNOB_NAMES)
                try:
                    Knobs(**{**{k: v for k, v in entry.items() if k != "by_backend"}, **section})
                except HarnessError as exc:
                    raise HarnessError(f"{where}.by_backend.{backend}: {exc.message}", exc.fix) from None
            if by_backend:
                entry["by_backend"] = by_backend
            try:
                Knobs(**{k: v for k, v in entry.items() if k != "by_backend"})
            except TypeError as exc:
                raise HarnessError(f"{where}: {exc}") from None
            except HarnessError as exc:
                raise HarnessError(f"{where}: {exc.message}", exc.fix) from None
            benchmarks[model][canonical] = entry
    return System(str(data.get("name", path.stem)), str(data.get("description", "")), gpu, benchmarks, path)


def normalize_scenario(text: str, where: str = "") -> str:
    for scenario in SCENARIOS:
        if text.strip().lower() == scenario.lower():
            return scenario
    prefix = f"{where}: " if where else ""
    raise HarnessError(f"{prefix}unknown scenario '{text}'", "valid scenarios: offline, server")


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
                check_keys(f"{path}: {model}.{scenario}.{backend}.knobs", knobs, KNOB_NAMES)
                out.setdefault(model, {}).setdefault(canonical, {})[str(backend)] = knobs
    return out


def system_names() -> list[str]:
    return sorted(p.stem for p in (configs_dir() / "systems").glob("*.yaml"))


def load_system(name: str) -> System:
    path = configs_dir() / "systems" / f"{name}.yaml"
    if not path.is_file():
        raise HarnessError(f"unknown system '{name}'",
                           "known systems: " + ", ".join(system_names()) + " (or SYSTEM=auto)")
    system = _parse(path)
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
