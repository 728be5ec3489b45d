"""Regenerate configs/reference/published_results.csv from a clone of mlcommons/inference_results_vX.Y.

  git clone --depth 1 https://github.com/mlcommons/inference_results_v4.1
  python scripts/published_results.py inference_results_v4.1            # add / update that round's rows
  python scripts/published_results.py inference_results_v4.1 --check    # exit 1 if the CSV disagrees
  python scripts/published_results.py TREE --round v4.0 --accelerator "NVIDIA H100-SXM-80GB"

For every closed-division system whose systems/<system>.json names one of the GPU models below (MaxQ power
submissions left out), each benchmark x scenario with a performance/run_1/mlperf_log_summary.txt becomes one
row: the summary's headline number, the system's accelerator count (accelerators_per_node x number_of_nodes),
and the file it came from (the source column). GPT-J's number is tokens/s where the summary gives it
(LoadGen's inferred tokens, v4.1 on); Server results are completed samples/s from v4.1 on and scheduled
samples/s before. Rows of the CSV the tree does not have are kept; a row whose value changes is listed.
Any folder with the inference_results layout works, e.g. the Dell R760 tree in shared/reference.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.errors import HarnessError  # noqa: E402
from harness.results.published import (  # noqa: E402
    Published,
    default_path,
    load_published,
    round_key,
    write_published,
)

# The GPU models the harness compares with, in the CSV's order, as submitters' systems files name them.
ACCELERATORS = ("NVIDIA H100-SXM-80GB", "NVIDIA H200-SXM-141GB", "NVIDIA H100-PCIe-80GB", "NVIDIA H100-NVL-94GB",
                "NVIDIA L40S", "NVIDIA A100-SXM-80GB")
# Other spellings of the same GPU models in some rounds' systems files.
ALIASES = {"NVIDIA H100 NVL": "NVIDIA H100-NVL-94GB"}
BENCHMARKS = ("resnet50", "retinanet", "bert-99", "bert-99.9", "3d-unet-99", "3d-unet-99.9", "gptj-99", "gptj-99.9")
SCENARIOS = ("Offline", "Server")
_ROUND_IN_NAME = re.compile(r"v\d+\.\d+")
_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(\S.*?)\s*$")


class TreeError(HarnessError):
    pass


@dataclass(frozen=True)
class Headline:
    metric: str
    value_text: str
    note: str


def summary_values(text: str) -> dict[str, str]:
    """'key : value' lines of the results section of an mlperf_log_summary.txt (before "Additional Stats")."""
    values: dict[str, str] = {}
    for line in text.split("Additional Stats", 1)[0].splitlines():
        match = _LINE.match(line)
        if match:
            values.setdefault(match.group(1), match.group(2))
    return values


def headline(values: dict[str, str], benchmark: str, scenario: str, round_name: str) -> Headline | None:
    """The number the round publishes for this summary, its unit and a note saying which line it is."""
    if scenario == "Offline":
        samples = values.get("Samples per second")
        tokens = values.get("Tokens per second (inferred)")
        if benchmark.startswith("gptj") and tokens:
            return Headline("tokens/s", tokens, f"inferred; {samples} samples/s")
        return Headline("samples/s", samples, "") if samples else None
    completed = values.get("Completed samples per second")
    tokens = values.get("Completed tokens per second (inferred)")
    if benchmark.startswith("gptj") and tokens:
        return Headline("tokens/s", tokens, f"inferred completed; {completed} samples/s")
    if completed:
        return Headline("queries/s", completed, "completed samples/s")
    scheduled = values.get("Scheduled samples per second")
    if scheduled:
        return Headline("queries/s", scheduled, f"{round_name} headline = scheduled samples/s")
    return None


def _system_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TreeError(f"{path} cannot be read ({exc})", "check the clone is complete") from None
    if not isinstance(data, dict):
        raise TreeError(f"{path} is not a JSON object", "check the clone is complete")
    return data


def _count(value: object, default: int = 1) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def scan(tree: Path, round_name: str, accelerators: tuple[str, ...], source_prefix: str,
         warn: list[str]) -> list[Published]:
    """Every row the tree gives for these GPU models."""
    wanted = {a.lower(): a for a in accelerators}
    rows: list[Published] = []
    for systems_json in sorted(tree.glob("closed/*/systems/*.json")):
        system = systems_json.stem
        desc = _system_json(systems_json)
        named = str(desc.get("accelerator_model_name", "")).strip()
        accelerator = wanted.get(ALIASES.get(named, named).lower())
        if accelerator is None or system.lower().endswith("_maxq"):
            continue
        org_dir = systems_json.parent.parent
        submitter = org_dir.name  # as the results tables name the organisation (its folder)
        nodes = _count(desc.get("number_of_nodes", 1))
        count = _count(desc.get("accelerators_per_node", 0), 0) * nodes
        if count < 1:
            warn.append(f"{systems_json.relative_to(tree)}: accelerators_per_node is not a number; skipped")
            continue
        for benchmark in BENCHMARKS:
            for scenario in SCENARIOS:
                summary = org_dir / "results" / system / benchmark / scenario / "performance/run_1" / \
                    "mlperf_log_summary.txt"
                if not summary.is_file():
                    continue
                relative = summary.relative_to(tree).as_posix()
                values = summary_values(summary.read_text(encoding="utf-8", errors="replace"))
                if values.get("Result is") != "VALID":
                    warn.append(f"{relative}: result is {values.get('Result is', 'missing')}; skipped")
                    continue
                found = headline(values, benchmark, scenario, round_name)
                if found is None:
                    warn.append(f"{relative}: no headline line (samples or tokens per second); skipped")
                    continue
                try:
                    value = float(found.value_text)
                except ValueError:
                    warn.append(f"{relative}: headline {found.value_text!r} is not a number; skipped")
                    continue
                notes = [found.note] if found.note else []
                if named != accelerator:
                    notes.append(f"systems file: {named}")
                if nodes > 1:
                    notes.append(f"{nodes} nodes")
                rows.append(Published(round_name, system, accelerator, count, value, found.metric, submitter,
                                      benchmark, scenario, "; ".join(notes), f"{source_prefix}{relative}",
                                      found.value_text))
    return rows


def order(rows: list[Published]) -> list[Published]:
    def key(r: Published) -> tuple[object, ...]:
        known = ACCELERATORS.index(r.accelerator) if r.accelerator in ACCELERATORS else len(ACCELERATORS)
        model = BENCHMARKS.index(r.model) if r.model in BENCHMARKS else len(BENCHMARKS)
        return (known, r.accelerator, tuple(-n for n in round_key(r.round)), r.submitter, r.system, model,
                r.model, r.scenario)

    return sorted(rows, key=key)


def _numbers(row: Published) -> tuple[object, ...]:
    return row.accelerator, row.accelerators, row.metric, row.value


def _path_of(row: Published) -> str:
    return row.source.rsplit(":", 1)[-1]


def merge(existing: list[Published], found: list[Published]) -> tuple[list[Published], list[str], int]:
    """Existing rows updated with the tree's; the changed numbers in words; how many rows are new.

    A row the tree lacks stays. A row with the same numbers from the same file stays as it is, so a clone at
    another commit, or a copy of one submitter's tree, changes nothing but what it says differently."""
    by_key = {r.key: r for r in found}
    changes, merged = [], []
    for row in existing:
        new = by_key.pop(row.key, None)
        if new is None or (_numbers(new) == _numbers(row) and _path_of(new) == _path_of(row)):
            merged.append(row)
            continue
        if _numbers(new) != _numbers(row):
            changes.append(f"{'/'.join(row.key)}: {row.value_text} {row.metric} x{row.accelerators} -> "
                           f"{new.value_text} {new.metric} x{new.accelerators}")
        merged.append(new)
    added = list(by_key.values())
    return order(merged + added), changes, len(added)


def _commit(tree: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    top = subprocess.run(["git", "-C", str(tree), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                         timeout=10).stdout.strip()
    return out if top and Path(top).resolve() == tree.resolve() else ""  # the tree's own repository only


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/published_results.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tree", type=Path, help="a clone of mlcommons/inference_results_vX.Y (the folder with closed/)")
    p.add_argument("--round", dest="round_name", help="its round, e.g. v4.1 (default: from the folder's name)")
    p.add_argument("--accelerator", action="append", metavar="NAME",
                   help="GPU model as systems files name it (repeatable; default: " + ", ".join(ACCELERATORS) + ")")
    p.add_argument("--repo", help="repository named in the source column (default mlcommons/inference_results_vX.Y)")
    p.add_argument("--commit", help="its commit, named in the source column (default: the clone's HEAD)")
    p.add_argument("--csv", type=Path, default=None, help="the file to update (default: the harness's)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file disagrees with the tree")
    args = p.parse_args(argv)
    try:
        return _main(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def _main(args: argparse.Namespace) -> int:
    tree: Path = args.tree
    if not (tree / "closed").is_dir():
        raise TreeError(f"{tree} has no closed/ folder", "pass a clone of mlcommons/inference_results_vX.Y")
    round_name = args.round_name
    if round_name is None:
        found = _ROUND_IN_NAME.findall(tree.resolve().name)
        if not found:
            raise TreeError(f"cannot tell the round from the folder name {tree.resolve().name}", "pass --round v4.1")
        round_name = found[-1]
    try:
        round_key(round_name)
    except ValueError:
        raise TreeError(f"--round must look like v4.1, got {round_name!r}") from None
    commit = args.commit if args.commit is not None else _commit(tree)
    repo = args.repo or f"mlcommons/inference_results_{round_name}"
    prefix = f"{repo}@{commit}:" if commit else f"{repo}:"
    warnings: list[str] = []
    found_rows = scan(tree, round_name, tuple(args.accelerator or ACCELERATORS), prefix, warnings)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    if not found_rows:
        raise TreeError(f"no results for {', '.join(args.accelerator or ACCELERATORS)} under {tree}/closed",
                        "check the tree and --accelerator (as systems/<system>.json names the GPU)")
    path = args.csv or default_path()
    existing = load_published(path) if path.is_file() else []
    merged, changes, added = merge(existing, found_rows)
    for line in changes:
        print(f"changed: {line}")
    summary = f"{len(found_rows)} rows in {tree} ({round_name}): {added} new, {len(changes)} with other numbers"
    if args.check:
        print(summary)
        if added or changes:
            print(f"{path} disagrees with {tree}: run without --check to update it")
            return 1
        print(f"{path} agrees with {tree}")
        return 0
    write_published(merged, path)
    print(f"{summary}; {path} has {len(merged)} rows")
    return 0

if __name__ == "__main__":
    sys.exit(main())
