"""Nightly matrices (configs/nightly/<box>.yaml): which model x scenario x mode x backend cells a box
runs every night, with which flags and knobs, and how the results are judged.

    box: h100-01                 # the box's name in the history store (default: the host name)
    system: h100_sxm_80gb_x1     # configs/systems/<name> (default auto)
    detection: {baseline_runs: 7, min_history: 3, noise_sigmas: 3, floors_pct: {accuracy: 0.5}}
    defaults: {fast: true}       # run flags every cell gets (a cell's own override them)
    cells:
      - {model: resnet50, scenario: [offline, server], backend: tensorrt}
      - {model: bert-99, scenario: server, backend: tensorrt, target_qps: 6500, knobs: {batch_size: 64}}

model, scenario, mode (default performance), backend (default auto) and precision may each be a list: a
cell entry expands to their cross product. Server cells run at a fixed target QPS: the cell's
``target_qps``, else the system config's; never searched at night, so nights stay comparable. Every
name and knob is checked when the matrix loads, before anything runs.
"""

from __future__ import annotations

import itertools
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import check_keys, configs_dir, load_yaml
from harness.errors import HarnessError
from harness.knobs import RunOptions, all_backend_options, backend_options, check_entry, model_options
from harness.machine.host import HostInfo
from harness.results.regression.detect import Settings
from harness.rules import load_rules, normalize_scenario
from harness.spec import MODES
from harness.system_configs import System, load_system, resolve_system

_TOP = frozenset({"box", "system", "description", "detection", "defaults", "cells"})
_DETECTION = frozenset({"baseline_runs", "min_history", "noise_sigmas", "floors_pct"})
# Run flags a matrix may set (in defaults or per cell) -> their type, and the `harness run` flag.
RUN_FLAGS: dict[str, tuple[type, str]] = {
    "demo": (bool, "--demo"), "fast": (bool, "--fast"), "demo_samples": (int, "--demo-samples"),
    "min_duration_ms": (int, "--min-duration-ms"), "min_query_count": (int, "--min-query-count"),
    "target_latency_ms": (float, "--target-latency-ms"), "data_dir": (str, "--data-dir"),
    "weights": (str, "--weights"), "rules": (str, "--rules"), "device": (str, "--device"),
    "timeout_s": (float, ""),
}
_AXES = ("model", "scenario", "mode", "backend", "precision")
_CELL = frozenset(_AXES) | {"knobs", "target_qps", "name"} | set(RUN_FLAGS)


@dataclass(frozen=True)
class Cell:
    name: str
    model: str
    scenario: str
    mode: str
    backend: str
    knobs: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    target_qps: float | None = None

    def run_args(self, system: str) -> list[str]:
        """The `harness run` arguments of this cell (results dir excepted)."""
        args = ["--model", self.model, "--scenario", self.scenario, "--mode", self.mode, "--backend", self.backend,
                "--system", system]
        if self.target_qps is not None:
            args += ["--target-qps", f"{self.target_qps:g}"]
        for key, value in self.flags.items():
            kind, flag = RUN_FLAGS[key]
            if not flag:
                continue
            if kind is bool:
                args += [flag] if value else []
            else:
                args += [flag, str(value)]
        for key, value in self.knobs.items():
            args += ["--set", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
        return args

    @property
    def timeout_s(self) -> float:
        return float(self.flags.get("timeout_s", 3600.0))


@dataclass(frozen=True)
class Matrix:
    path: Path
    box: str
    system: str  # as the matrix says it: passed to every cell's run
    cells: tuple[Cell, ...]
    settings: Settings
    description: str = ""


def _flag(where: str, key: str, value: Any) -> Any:
    kind = RUN_FLAGS[key][0]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise HarnessError(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    return value


def _listed(where: str, key: str, value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        if item is None and key == "backend":  # YAML reads a bare null as None: the null backend
            item = "null"
        if not isinstance(item, str) or not item.strip():
            raise HarnessError(f"{where}: {key} must be a name or a list of names, got {value!r}")
        out.append(item.strip())
    if not out:
        raise HarnessError(f"{where}: {key} is an empty list")
    return out


def _settings(where: str, raw: Any) -> Settings:
    if raw is None:
        return Settings()
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: detection must be a mapping")
    check_keys(f"{where}: detection", raw, _DETECTION)
    values = dict(raw)
    floors = values.pop("floors_pct", None) or {}
    if not isinstance(floors, dict):
        raise HarnessError(f"{where}: detection.floors_pct must map metric -> percent")
    merged = {**Settings().floors_pct, **{str(k): float(v) for k, v in floors.items()}}
    try:
        return Settings(floors_pct=merged, **values)
    except TypeError as exc:
        raise HarnessError(f"{where}: detection: {exc}") from None
    except HarnessError as exc:
        raise HarnessError(f"{where}: {exc.message}", exc.fix) from None


def _check_cell(where: str, model: str, scenario: str, mode: str, backend: str, knobs: dict[str, Any],
                rules_round: str, host: HostInfo | None, device: str) -> tuple[str, str, str]:
    """(canonical model, scenario, backend name) or a HarnessError naming the cell. With a host, a
    backend 'auto' becomes the one `harness run` would pick there."""
    from harness.backends import backend_class
    from harness.resolve import choose_backend
    from models import get_model_class

    try:
        model_cls = get_model_class(model)
        if backend == "auto" and host is not None:
            backend = choose_backend(host, device, model_cls)[0]
        canonical = normalize_scenario(scenario)
        if mode not in MODES:
            raise HarnessError(f"unknown mode '{mode}'", "use performance or accuracy")
        model_rules = load_rules(rules_round).model(model_cls.loadgen_name)
        if canonical not in model_cls.scenarios or canonical not in model_rules.scenarios:
            raise HarnessError(f"{model_cls.name} has no {canonical} scenario",
                               f"{model_cls.name} runs: {', '.join(s.lower() for s in model_cls.scenarios)}")
        owners: list[tuple[str, type]] = [("run", RunOptions), ("model", model_options(model_cls.name))]
        if backend == "auto":
            check_entry("knobs", knobs, owners, all_backend_options())
            return model_cls.name, canonical, backend
        cls = backend_class(backend)
        if not cls.can_build(model_cls.program.needs, model_cls):
            raise HarnessError(f"backend {cls.name} cannot run {model_cls.name}")
        check_entry("knobs", knobs, owners + [("backend", backend_options(cls.name))])
        return model_cls.name, canonical, cls.name
    except HarnessError as exc:
        raise HarnessError(f"{where}: {exc.message}", exc.fix) from None


def _expand(where: str, raw: Any, defaults: dict[str, Any], system: System | None, host: HostInfo | None
            ) -> list[Cell]:
    """The cells of one matrix entry: the cross product of its axes, each checked."""
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping, got {raw!r}")
    check_keys(where, raw, _CELL)
    if "model" not in raw or "scenario" not in raw:
        raise HarnessError(f"{where}: needs model and scenario")
    axes = {key: _listed(where, key, raw[key]) for key in _AXES if key in raw}
    knobs = raw.get("knobs") or {}
    if not isinstance(knobs, dict):
        raise HarnessError(f"{where}: knobs must be a mapping of knob -> value")
    flags = {**defaults, **{k: _flag(where, k, raw[k]) for k in RUN_FLAGS if k in raw}}
    qps = raw.get("target_qps")
    if qps is not None and (isinstance(qps, bool) or not isinstance(qps, (int, float)) or qps <= 0):
        raise HarnessError(f"{where}: target_qps must be a positive number, got {qps!r}")
    product = list(itertools.product(axes["model"], axes["scenario"], [m.lower() for m in axes.get("mode", [
        "performance"])], axes.get("backend", ["auto"]), axes.get("precision", [None])))
    cells = []
    for model, scenario, mode, backend, precision in product:
        cell_knobs = dict(knobs) if precision is None else {**knobs, "precision": precision}
        model_name, canonical, backend_name = _check_cell(where, model, scenario, mode, backend, cell_knobs,
                                                          str(flags.get("rules", "v4.1")), host,
                                                          str(flags.get("device", "auto")))
        target = float(qps) if qps is not None else None
        if canonical == "Server" and mode == "performance" and target is None:
            # Fixed at night: the cell's, else the system config's (never searched).
            target = cell_knobs.get("server_target_qps")
            if target is None and system is not None and backend_name != "auto":
                target = system.knobs(model_name, "Server", backend_name).run.server_target_qps
                if target is None:
                    where_set = system.path or f"system {system.name}"
                    raise HarnessError(f"{where}: {model_name} Server has no fixed target QPS",
                                       f"set target_qps in the cell, or server_target_qps in {where_set} "
                                       "(nightly Server runs are never searched)")
        name = f"{model}-{canonical}-{mode}-{backend_name}" + ("-" + precision if precision else "")
        if raw.get("name"):
            name = str(raw["name"]) + ("-" + name if len(product) > 1 else "")
        cells.append(Cell(name, model, canonical, mode, backend_name, cell_knobs, flags, target))
    return cells


def _find(path: Path) -> Path:
    if not path.is_file() and not path.suffix and (configs_dir() / "nightly" / f"{path}.yaml").is_file():
        return configs_dir() / "nightly" / f"{path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (configs_dir() / "nightly").glob("*.yaml"))
        raise HarnessError(f"matrix {path} not found", "shipped matrices: " + ", ".join(known))
    return path


def load_matrix(path: Path, box: str | None = None, host: HostInfo | None = None) -> Matrix:
    """Read and check a matrix: every model, scenario, mode, backend and knob is known and fits.

    With ``host`` (the machine it is about to run on) the system and 'auto' backends are resolved for it
    (a GPU system on a box without that GPU is refused); without, the matrix is only checked."""
    path = _find(Path(path))
    data = load_yaml(path)
    check_keys(str(path), data, _TOP)
    system_arg = str(data.get("system") or "auto")
    system: System | None = None
    if host is not None:
        system = resolve_system(system_arg, host)
    elif system_arg != "auto":
        system = load_system(system_arg)  # an unknown system is refused here
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise HarnessError(f"{path}: defaults must be a mapping of run flags")
    check_keys(f"{path}: defaults", defaults, frozenset(RUN_FLAGS))
    defaults = {k: _flag(f"{path}: defaults", k, v) for k, v in defaults.items()}
    raw_cells = data.get("cells")
    if not isinstance(raw_cells, list) or not raw_cells:
        raise HarnessError(f"{path}: cells must be a non-empty list", "e.g. cells: [{model: resnet50, "
                                                                      "scenario: offline, backend: onnxruntime}]")
    cells = [c for i, raw in enumerate(raw_cells) for c in _expand(f"{path}: cells[{i}]", raw, defaults, system, host)]
    names = [c.name for c in cells]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise HarnessError(f"{path}: cells {', '.join(twice)} appear more than once", "give them distinct names")
    return Matrix(path, str(box or data.get("box") or platform.node()), system_arg, tuple(cells),
                  _settings(str(path), data.get("detection")), str(data.get("description") or ""))
