"""Benchmarks, one folder each. A folder is registered by defining ``MODEL`` in its __init__.

Besides the folders here, every folder named in HARNESS_MODELS_PATH (os.pathsep-separated) is searched
the same way: each package in it is imported by its folder name (so names must not clash with installed
packages). That is how models kept outside this tree, and the test suite's toy models, plug in.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from functools import lru_cache
from pathlib import Path

from harness.errors import HarnessError
from models.base import ModelSpec

MODELS_PATH_ENV = "HARNESS_MODELS_PATH"


def _extra_dirs() -> list[Path]:
    return [Path(p) for p in os.environ.get(MODELS_PATH_ENV, "").split(os.pathsep) if p.strip()]


def _modules() -> list[str]:
    names = [f"models.{info.name}" for info in pkgutil.iter_modules([str(Path(__file__).parent)]) if info.ispkg]
    for folder in _extra_dirs():
        if not folder.is_dir():
            raise HarnessError(f"{MODELS_PATH_ENV} names {folder}, which is not a folder",
                               "point it at a folder of model packages, or unset it")
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
        names += [info.name for info in pkgutil.iter_modules([str(folder)]) if info.ispkg]
    return names


@lru_cache(maxsize=1)
def _registry() -> dict[str, type[ModelSpec]]:
    found: dict[str, type[ModelSpec]] = {}
    for module_name in _modules():
        module = importlib.import_module(module_name)
        spec = getattr(module, "MODEL", None)
        if spec is None:
            continue
        for key in (spec.name, *spec.aliases, *spec.mlperf_names):
            other = found.setdefault(key.lower(), spec)
            if other is not spec:
                raise HarnessError(f"model name '{key}' is claimed by both {other.__module__} and {spec.__module__}",
                                   "rename one of them")
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
