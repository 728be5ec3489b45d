"""Benchmarks, one folder each. A folder is registered by defining ``MODEL`` in its __init__."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

from harness.errors import HarnessError
from models.base import ModelSpec


@lru_cache(maxsize=1)
def _registry() -> dict[str, type[ModelSpec]]:
    found: dict[str, type[ModelSpec]] = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"models.{info.name}")
        spec = getattr(module, "MODEL", None)
        if spec is None:
            continue
        for key in (spec.name, *spec.aliases, *spec.mlperf_names):
            found.setdefault(key.lower(), spec)
    return found


def model_names() -> list[str]:
    """Canonical names of every model the project has."""
    return sorted({spec.name for spec in _registry().values()})


def get_model_class(name: str) -> type[ModelSpec]:
    spec = _registry().get(name.strip().lower())
    if spec is None:
        valid = ", ".join(model_names())
        raise HarnessError(f"unknown model '{name}'", f"pick one of: {valid}")
    return spec
