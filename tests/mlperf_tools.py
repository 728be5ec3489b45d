"""MLCommons' own v4.1 submission and compliance tools, run (never copied) from the shared reference folder:
../shared/reference/mlperf-v4.1-tools beside the checkout, or $MLPERF_REFERENCE_DIR/mlperf-v4.1-tools."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

TOOLS = "mlperf-v4.1-tools"


def tools_dir() -> Path:
    """The tools folder, or skip the test (CI has ../shared)."""
    candidates = [os.environ.get("MLPERF_REFERENCE_DIR", ""), str(ROOT.parent / "shared" / "reference"),
                  str(ROOT.parent.parent / "shared" / "reference")]
    for base in candidates:
        if base and (Path(base) / TOOLS / "tools" / "submission" / "submission_checker.py").is_file():
            return Path(base) / TOOLS
    pytest.skip(f"MLCommons' v4.1 tools ({TOOLS}) are not beside the checkout: set MLPERF_REFERENCE_DIR")


def _env() -> dict[str, str]:
    # The run_verification scripts start `python3 ...`: make that this interpreter (it has numpy).
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


def run_checker(tree: Path, submitter: str, csv: Path) -> subprocess.CompletedProcess[str]:
    script = tools_dir() / "tools" / "submission" / "submission_checker.py"
    return subprocess.run([sys.executable, str(script), "--input", str(tree), "--version", "v4.1",
                           "--submitter", submitter, "--csv", str(csv)], capture_output=True, text=True,
                          timeout=300, env=_env())


def checker_lines(proc: subprocess.CompletedProcess[str], level: str) -> list[str]:
    """The checker's messages of one level (ERROR, WARNING), without the timestamp prefix."""
    out = []
    for line in (proc.stdout + proc.stderr).splitlines():
        match = re.match(r"\[[^\]]* " + level + r"\] (.*)", line)
        if match:
            out.append(match.group(1))
    return out


def run_verification(test: str, results: Path, compliance: Path, out: Path, cwd: Path) -> dict[str, bool]:
    """MLCommons' run_verification.py of one test; its "... check pass: True/False" lines."""
    script = tools_dir() / "compliance" / "nvidia" / test / "run_verification.py"
    proc = subprocess.run([sys.executable, str(script), "-r", str(results), "-c", str(compliance), "-o", str(out)],
                          cwd=cwd, capture_output=True, text=True, timeout=300, env=_env())
    assert f"{test} verification complete" in proc.stdout, proc.stdout + proc.stderr
    return {kind.lower(): value == "True"
            for kind, value in re.findall(r"^(Accuracy|Performance) check pass: (True|False)", proc.stdout, re.M)}


def run_script(path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(path), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=_env())
