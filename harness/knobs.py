"""Knobs of a run, by owner.

Three owners declare typed options (harness.options): the run itself (``RunOptions``: batching, streams,
target QPS, precision), each backend (its ``Options``) and each model (``ModelSpec.options``). The system
knob files (configs/systems/, harness.system_configs) set them per model x scenario, and
``--set KNOB=VALUE`` overrides them, both through the same types.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from harness import options as opt
from harness.errors import HarnessError
from harness.options import option

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")


@dataclass(frozen=True)
class RunOptions:
    """Knobs of the run itself: how the SUT batches and how hard LoadGen pushes."""

    batch_size: int = option(1, "samples per runner call (Offline and Server's largest batch)", minimum=1)
    streams_per_device: int = option(1, "runners (each with its own stream / execution context) per device",
                                     minimum=1)
    batch_timeout_us: int = option(2000, "Server: how long the batcher waits to fill a batch after the first "
                                         "sample arrives", minimum=0)
    offline_expected_qps: float | None = option(None, "Offline: LoadGen's expected samples/s (sizes the query)",
                                                minimum=1e-6)
    server_target_qps: float | None = option(None, "Server: LoadGen's target queries/s", minimum=1e-6)
    precision: str = option("fp32", "numeric precision the backend runs", choices=PRECISIONS)
    server_coalesce_queries: bool = option(False, "Server: LoadGen hands every query already due over in one "
                                                  "call (its server_coalesce_queries)")

    def scaled(self, factor: float) -> "RunOptions":
        return replace(
            self,
            offline_expected_qps=None if self.offline_expected_qps is None else self.offline_expected_qps * factor,
            server_target_qps=None if self.server_target_qps is None else self.server_target_qps * factor,
        )


RUN_OPTION_NAMES = frozenset(opt.schema(RunOptions))


@dataclass(frozen=True)
class Knobs:
    """Every knob of one run, resolved, by owner."""

    run: RunOptions
    backend: Any
    model: Any
    backend_name: str = ""
    model_name: str = ""

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {"run": opt.to_dict(self.run), "backend": opt.to_dict(self.backend),
                "model": opt.to_dict(self.model)}

    def flat(self) -> dict[str, Any]:
        return {**opt.to_dict(self.run), **opt.to_dict(self.backend), **opt.to_dict(self.model)}


# -- owners ---------------------------------------------------------------------
def backend_options(name: str) -> type:
    from harness.backends import backend_class

    return backend_class(name).Options


@lru_cache(maxsize=1)
def all_backend_options() -> dict[str, type]:
    from harness.backends import backend_names

    return {name: backend_options(name) for name in backend_names()}


def model_options(model: str) -> type:
    from models import get_model_class

    options: type = get_model_class(model).options
    return options


def owners_for(model: str, backend: str) -> list[tuple[str, type]]:
    """(owner, options class) a run of ``model`` on ``backend`` reads knobs from."""
    return [("run", RunOptions), (f"model {model}", model_options(model)), (f"backend {backend}",
                                                                            backend_options(backend))]


def check_entry(where: str, values: dict[str, Any], owners: list[tuple[str, type]],
                 also_known: dict[str, type] | None = None) -> None:
    """Every key known to some owner and of its type. ``also_known``: owners whose keys are accepted
    (and checked) but apply to other runs (other backends' keys in a flat entry)."""
    classes = [cls for _, cls in owners] + list((also_known or {}).values())
    for key, value in values.items():
        declaring = [cls for cls in classes if key in opt.schema(cls)]
        if not declaring:
            known = {name for cls in classes for name in opt.schema(cls)}
            raise opt.unknown_key(where, key, known)
        for cls in declaring:
            opt.schema(cls)[key].check(value, where)


def split(values: dict[str, Any], model: str, backend: str, where: str) -> Knobs:
    """Route flat values to their owners (keys of other backends are dropped) and build the options."""
    classes = {"run": RunOptions, "model": model_options(model), "backend": backend_options(backend)}
    parts: dict[str, dict[str, Any]] = {k: {} for k in classes}
    for key, value in values.items():
        for owner, cls in classes.items():
            if key in opt.schema(cls):
                parts[owner][key] = value
                break
    return Knobs(opt.build(RunOptions, parts["run"], where), opt.build(classes["backend"], parts["backend"], where),
                 opt.build(classes["model"], parts["model"], where), backend, model)


def apply_overrides(knobs: Knobs, overrides: tuple[str, ...] | list[str]) -> Knobs:
    """``--set name=value`` items, parsed with their owner's type. A knob of another backend, or one
    nobody owns, is refused with the owner or the knobs of this run."""
    owners = {"run": knobs.run, "model": knobs.model, "backend": knobs.backend}
    changes: dict[str, dict[str, Any]] = {k: {} for k in owners}
    for item in overrides:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep:
            raise HarnessError(f"--set {item!r}: expected KNOB=VALUE")
        owner = next((o for o, value in owners.items() if name in opt.schema(type(value))), None)
        if owner is None:
            elsewhere = [b for b, cls in all_backend_options().items() if name in opt.schema(cls)]
            if elsewhere:
                raise HarnessError(f"--set {name}: a knob of the {' / '.join(elsewhere)} backend; this run uses "
                                   f"{knobs.backend_name}", f"drop it, or run with --backend {elsewhere[0]}")
            known = sorted({n for value in owners.values() for n in opt.schema(type(value))})
            close = opt.closest(name, known)
            hint = f" (did you mean '{close}'?)" if close else ""
            raise HarnessError(f"--set: unknown knob '{name}'{hint}", "knobs of this run: " + ", ".join(known))
        changes[owner][name] = opt.schema(type(owners[owner]))[name].parse(raw, f"--set {name}")
    return replace(knobs, run=replace(knobs.run, **changes["run"]), model=replace(knobs.model, **changes["model"]),
                   backend=replace(knobs.backend, **changes["backend"]))
