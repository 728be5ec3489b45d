"""Where the project's configs live, and a strict YAML loader."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def configs_dir() -> Path:
    return Path(os.environ.get("HARNESS_CONFIGS", PROJECT_ROOT / "configs"))


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise HarnessError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path} is not valid YAML: {exc}", "fix the syntax error shown") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def check_keys(where: str, data: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    """Reject unknown (often misspelled) keys, naming the key and where it sits."""
    for key in data:
        if key not in allowed:
            close = _closest(str(key), allowed)
            hint = f" (did you mean '{close}'?)" if close else ""
            raise HarnessError(
                f"{where}: unknown key '{key}'{hint}",
                "valid keys here: " + ", ".join(sorted(allowed)),
            )


def _closest(word: str, options: set[str] | frozenset[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return matches[0] if matches else None
