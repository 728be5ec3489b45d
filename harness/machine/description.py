"""System description (systems/<name>.json): what the MLPerf submission checker requires, detected, then user-edited.

The systems folder is <results dir>/systems, or $HARNESS_SYSTEMS_DIR when set (systems_dir_for): never the
working directory by surprise. `python -m harness system [--name NAME]` writes systems/<name>.json with every
field the v4.1 checker requires.
The user edits it; later detections (that command again, or any run) add missing fields and refresh the
fields the user has not changed, and never touch a field the user edited. What was detected last is kept
in systems/.detected/<name>.json: a field whose value still equals that record is ours to refresh; any
other value is the user's. Without that record every existing field counts as the user's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.machine.probe import detect_description

# The v4.1 submission checker's SYSTEM_DESC_REQUIRED_FIELDS, in the order of published systems files.
REQUIRED_FIELDS = (
    "division", "submitter", "status", "system_name", "number_of_nodes", "system_type", "system_type_detail",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_processor_frequency", "host_processor_caches", "host_processor_interconnect",
    "host_memory_capacity", "host_memory_configuration", "host_storage_capacity", "host_storage_type",
    "host_networking", "host_networking_topology", "host_network_card_count",
    "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "accelerator_memory_configuration", "accelerator_frequency", "accelerator_host_interconnect",
    "accelerator_interconnect", "accelerator_interconnect_topology", "accelerator_on-chip_memories",
    "framework", "operating_system", "other_software_stack", "cooling", "hw_notes", "sw_notes",
)
# Fields the checker wants non-empty (SYSTEM_DESC_MEANINGFUL_RESPONSE_REQUIRED_FIELDS).
MEANINGFUL_FIELDS = frozenset({
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_memory_configuration", "host_storage_capacity", "host_storage_type",
    "host_networking", "host_network_card_count", "host_networking_topology", "accelerators_per_node",
    "accelerator_model_name", "accelerator_memory_capacity", "accelerator_host_interconnect",
    "accelerator_memory_configuration", "accelerator_interconnect", "cooling", "framework",
    "operating_system", "other_software_stack",
})
# Known to the checker (required only with power measurements); published files carry them too.
POWER_FIELDS = (
    "power_management", "filesystem", "boot_firmware_version", "management_firmware_version", "other_hardware",
    "number_of_type_nics_installed", "nics_enabled_firmware", "nics_enabled_os", "nics_enabled_connected",
    "network_speed_mbit", "power_supply_quantity_and_rating_watts", "power_supply_details", "disk_drives",
    "disk_controllers",
)
VALID_STATUS = ("available", "preview", "rdi")
VALID_SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
BASELINE_DIR = ".detected"


@dataclass
class Problems:
    """What a systems file lacks for the submission checker."""

    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.empty or self.invalid)

    def lines(self) -> list[str]:
        out = []
        if self.missing:
            out.append("missing fields: " + ", ".join(self.missing))
        if self.empty:
            out.append("fields that need a value: " + ", ".join(self.empty))
        out += self.invalid
        return out


def check(data: dict[str, Any]) -> Problems:
    problems = Problems()
    for key in REQUIRED_FIELDS:
        if key not in data:
            problems.missing.append(key)
        elif key in MEANINGFUL_FIELDS and (data[key] is None or str(data[key]).strip() == ""):
            problems.empty.append(key)
    status = str(data.get("status", "")).strip().lower()
    if status and status not in VALID_STATUS:
        problems.invalid.append(f"status '{data['status']}' is not one of {', '.join(VALID_STATUS)}")
    system_type = str(data.get("system_type", "")).strip()
    if system_type and system_type not in VALID_SYSTEM_TYPES:
        problems.invalid.append(f"system_type '{system_type}' is not one of {', '.join(VALID_SYSTEM_TYPES)}")
    return problems


SYSTEMS_DIR_ENV = "HARNESS_SYSTEMS_DIR"


def systems_dir_for(results_dir: Path) -> Path:
    """Where the systems files of a results folder live: $HARNESS_SYSTEMS_DIR, else <results_dir>/systems."""
    configured = os.environ.get(SYSTEMS_DIR_ENV, "").strip()
    return Path(configured) if configured else Path(results_dir) / "systems"


def describe(name: str, backend: str | None = None, versions: dict[str, str] | None = None) -> dict[str, Any]:
    """Every required (and power) field for this machine; what cannot be detected is left empty.
    ``framework`` names the backend that ran (and the versions it recorded), when given."""
    detected = detect_description(name, backend=backend, versions=versions)
    ordered: dict[str, Any] = {key: detected.get(key, "") for key in REQUIRED_FIELDS}
    ordered.update({key: detected.get(key, "") for key in POWER_FIELDS})
    return ordered


def systems_file(systems_dir: Path, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise HarnessError(f"invalid system name '{name}'", "use a plain name such as h100_pcie_80gb_x2")
    return systems_dir / f"{name}.json"


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path} not found", "write it with `python -m harness system`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {path}: {exc}", "check the file's permissions") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path} is not valid JSON ({exc})",
                           "fix the syntax (nothing was changed), or move the file away to detect afresh") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a JSON object, got {type(data).__name__}",
                           "the file holds one object of field: value pairs")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Update:
    path: Path
    data: dict[str, Any]
    created: bool = False
    added: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added or self.refreshed)

    def summary(self) -> list[str]:
        if self.created:
            return [f"wrote {self.path}"]
        lines = [f"updated {self.path}" if self.changed else f"{self.path} is up to date"]
        if self.added:
            lines.append("  added: " + ", ".join(self.added))
        if self.refreshed:
            lines.append("  refreshed (unchanged by you): " + ", ".join(self.refreshed))
        if self.kept:
            lines.append("  kept your values (detected differently): " + ", ".join(self.kept))
        return lines


def merge(current: dict[str, Any], baseline: dict[str, Any] | None, detected: dict[str, Any],
          update: Update) -> dict[str, Any]:
    """Detected values go only into fields that are missing or still hold the last detected value."""
    merged = dict(current)
    for key, value in detected.items():
        if key not in merged:
            merged[key] = value
            update.added.append(key)
        elif merged[key] == value:
            continue
        elif baseline is not None and key in baseline and merged[key] == baseline[key]:
            merged[key] = value
            update.refreshed.append(key)
        else:
            update.kept.append(key)
    return merged


def ensure(systems_dir: Path, name: str, detected: dict[str, Any] | None = None, write: bool = True) -> Update:
    """Create systems/<name>.json, or merge new detections into the fields the user has not changed."""
    path = systems_file(systems_dir, name)
    baseline_path = systems_dir / BASELINE_DIR / f"{name}.json"
    detected = describe(name) if detected is None else detected
    if not path.exists():
        update = Update(path, dict(detected), created=True)
    else:
        current = load(path)
        baseline = None
        if baseline_path.is_file():
            try:
                baseline = load(baseline_path)
            except HarnessError:
                baseline = None  # a damaged record only makes us more careful
        update = Update(path, {})
        update.data = merge(current, baseline, detected, update)
    if write:
        if update.changed:
            _write(path, update.data)
        _write(baseline_path, detected)
    return update


def for_run(name: str, systems_dir: Path, backend: str | None = None,
            versions: dict[str, str] | None = None) -> dict[str, Any]:
    """What a run records about its systems file; creating or refreshing it must never fail a run."""
    try:
        update = ensure(systems_dir, name, describe(name, backend, versions))
    except (HarnessError, OSError) as exc:
        return {"file": str(systems_dir / f"{name}.json"), "error": str(exc)}
    return {"file": str(update.path), "created": update.created, "description": update.data,
            "problems": check(update.data).lines()}
