"""The GPUs this process may use: nvidia-smi queries and CUDA_VISIBLE_DEVICES, read one way everywhere.

CUDA_VISIBLE_DEVICES unset means every GPU; set but empty, or "-1", means none (CUDA's own rule: the
list stops at the first entry that names no device). Entries are indices or UUIDs (``GPU-...``,
``MIG-...``, or a unique prefix of one, as CUDA accepts them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence


def visible_entries() -> list[str] | None:
    """CUDA_VISIBLE_DEVICES as a list (None: the variable is unset, every GPU is visible)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    entries = []
    for item in value.split(","):
        item = item.strip()
        if not item or item == "-1" or (item.lstrip("-").isdigit() and int(item) < 0):
            break
        entries.append(item)
    return entries


def nvidia_smi(args: Sequence[str], timeout_s: float = 20) -> str:
    """nvidia-smi's stdout, or "" when it is missing or fails."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ""
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout_s, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def query(fields: Sequence[str], timeout_s: float = 20) -> list[dict[str, str]]:
    """``nvidia-smi --query-gpu`` for the visible GPUs, in CUDA's order (the order of CUDA_VISIBLE_DEVICES).

    Each row maps the asked fields to nvidia-smi's text; "index" and "uuid" are always queried (for
    matching) and included.
    """
    asked = list(dict.fromkeys(["index", "uuid", *fields]))
    out = nvidia_smi([f"--query-gpu={','.join(asked)}", "--format=csv,noheader,nounits"], timeout_s)
    rows = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == len(asked):
            rows.append(dict(zip(asked, parts)))
    return select_visible(rows, visible_entries())


def select_visible(rows: list[dict[str, str]], entries: list[str] | None) -> list[dict[str, str]]:
    """The rows CUDA_VISIBLE_DEVICES entries name, in their order (all rows when ``entries`` is None)."""
    if entries is None:
        return rows
    picked: list[dict[str, str]] = []
    for entry in entries:
        match = [r for r in rows if r.get("index") == entry] if entry.isdigit() else \
            [r for r in rows if r.get("uuid", "").startswith(entry if entry.startswith(("GPU-", "MIG-"))
                                                             else "GPU-" + entry)]
        if len(match) != 1 or match[0] in picked:
            break  # CUDA stops at the first entry that names no (new) device
        picked.append(match[0])
    return picked


def smi_ids_for(devices: Sequence[str]) -> list[str] | None:
    """nvidia-smi ``-i`` ids (index or UUID) of the CUDA devices a backend runs on ('cuda:1' is the second
    visible GPU); None when no CUDA device is named."""
    used = [int(d.split(":", 1)[1]) for d in devices if d.startswith("cuda:") and d.split(":", 1)[1].isdigit()]
    if not used:
        return None
    entries = visible_entries()
    if entries is None:
        return [str(i) for i in used]
    return [entries[i] for i in used if i < len(entries)]
