"""Render the static pages with Jinja2: run pages, each system's summary.html, results/index.html,
and the results page of an MLPerf submission tree."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from harness.errors import HarnessError
from harness.machine.description import systems_file
from harness.results.pages import local, runpage, submission
from harness.results.pages.facts import RoundFacts, check_round, performance_text
from harness.results.pages.local import INDEX_PAGE, SUMMARY_PAGE, RunView, relative
from harness.results.pages.summary import Button, SummaryPage, build
from harness.rules import DEFAULT_ROUND

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def write_page(path: Path, template: str, **context: Any) -> Path:
    context.setdefault("index_href", None)
    context.setdefault("title", "")
    context["generated_at"] = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    html = environment().get_template(template).render(**context)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_run(view: RunView, results_dir: Path) -> Path:
    """The run's page; a record whose contents the page cannot show marks the run damaged (the page then
    shows what the folder holds without it), so one bad run.json never stops the report."""
    try:
        context = runpage.build(view, results_dir)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        view.problems.insert(0, f"run.json is damaged ({type(exc).__name__}: {exc}): this run is not a result")
        view.record, view.verdict, view.damaged = None, None, True
        context = runpage.build(view, results_dir)
    return write_page(view.page, "run.html", **context)


def _round_of(runs: dict[str, dict[str, list[RunView]]]) -> str:
    rounds = [v.record.rules.get("round") for per in runs.values() for views in per.values() for v in views
              if v.record is not None and v.record.rules.get("round")]
    return str(rounds[-1]) if rounds else DEFAULT_ROUND


def local_description(system: str, systems_dir: Path,
                      runs: dict[str, dict[str, list[RunView]]]) -> tuple[dict[str, Any], list[str]]:
    """systems/<system>.json; failing that, the description the latest run recorded, and a note."""
    path = systems_file(systems_dir, system)
    if path.is_file():
        return submission.read_description(path)
    views = sorted((v for per in runs.values() for vs in per.values() for v in vs if v.record is not None),
                   key=lambda v: v.started_at)
    for view in reversed(views):
        assert view.record is not None
        recorded = view.record.system_info.get("systems_json", {}).get("description")
        if isinstance(recorded, dict):
            return recorded, [f"{path} not found: showing the description recorded by run {view.run_id}; "
                              f"`python -m harness system --name {system}` writes the file for you to edit"]
    return {}, [f"{path} not found: `python -m harness system --name {system}` detects this machine and "
                "writes it; then fill in what it could not detect"]


def render_summary(results_dir: Path, system: str, runs: dict[str, dict[str, list[RunView]]],
                   systems_dir: Path, facts: RoundFacts) -> Path:
    page_path = results_dir / system / SUMMARY_PAGE
    page_dir = page_path.parent
    desc, notes = local_description(system, systems_dir, runs)
    results = {model: {scenario: local.scenario_result(views, scenario, page_dir)
                       for scenario, views in per_scenario.items()}
               for model, per_scenario in runs.items()}
    page = build(desc, results, facts, notes, source=str(results_dir / system))
    page.buttons = [Button("Result Logs", "."), Button("All results", relative(results_dir / INDEX_PAGE, page_dir))]
    desc_path = systems_file(systems_dir, system)
    page.buttons.append(Button("System description", relative(desc_path, page_dir) if desc_path.is_file() else None))
    return _write_summary(page_path, page, relative(results_dir / INDEX_PAGE, page_dir))


def _write_summary(path: Path, page: SummaryPage, index_href: str | None) -> Path:
    return write_page(path, "summary.html", page=page, title=f"MLPerf Inference {page.round}",
                      index_href=index_href)


def _run_entry(view: RunView | None, page_dir: Path) -> dict[str, str] | None:
    if view is None:
        return None
    _, value, unit = view.metric()
    if view.mode == "accuracy":
        text = "PASS" if view.valid else ("FAIL" if view.valid is False else view.status)
        flag, flag_class = "", ""
    else:
        text = f"{performance_text(value)} {unit}" if value is not None else "no result"
        flag = "VALID" if view.valid else ("INVALID" if view.valid is False else view.status)
        flag_class = "valid" if view.valid else "invalid"
        if not view.complete:
            flag, flag_class = view.status.upper(), "invalid"
    return {"href": relative(view.page, page_dir), "text": text, "flag": flag, "flag_class": flag_class,
            "when": view.started_at}


def render_index(results_dir: Path, all_runs: dict[str, dict[str, dict[str, list[RunView]]]],
                 facts: RoundFacts) -> Path:
    rows, systems = [], []
    for system in sorted(all_runs):
        per_model = all_runs[system]
        systems.append({"name": system, "summary_href": f"{system}/{SUMMARY_PAGE}",
                        "runs": sum(len(v) for per in per_model.values() for v in per.values())})
        for model in sorted(per_model, key=facts.order_key):
            for scenario in sorted(per_model[model]):
                views = per_model[model][scenario]
                rows.append({
                    "system": system, "model": model, "scenario": scenario, "count": len(views),
                    "latest": _run_entry(local.last_run(views, "performance"), results_dir),
                    "latest_valid": _run_entry(local.latest(views, "performance", valid_only=True), results_dir),
                    "accuracy": _run_entry(local.latest(views, "accuracy"), results_dir),
                })
    return write_page(results_dir / INDEX_PAGE, "index.html", title="MLPerf results", rows=rows, systems=systems,
                      results_dir=str(results_dir))


def render_results(results_dir: Path, systems_dir: Path, system: str | None = None,
                   round_name: str | None = None) -> list[Path]:
    """Every run page, the summary of each system (or just `system`), and the index."""
    if not results_dir.is_dir():
        raise HarnessError(f"results directory {results_dir} not found",
                           "run a benchmark first (make run), or pass --results-dir")
    all_runs = local.scan(results_dir)
    if system is not None and system not in all_runs:
        known = ", ".join(sorted(all_runs)) or "none"
        raise HarnessError(f"no runs for system '{system}' under {results_dir}", f"systems with runs: {known}")
    written = []
    for name in sorted(all_runs) if system is None else [system]:
        runs = all_runs[name]
        facts = check_round(round_name or _round_of(runs))
        for per_scenario in runs.values():
            for views in per_scenario.values():
                written += [render_run(view, results_dir) for view in views]
        written.append(render_summary(results_dir, name, runs, systems_dir, facts))
    written.append(render_index(results_dir, all_runs, check_round(round_name or DEFAULT_ROUND)))
    return written


def render_after_run(run_dir: Path, results_dir: Path, systems_dir: Path = Path("systems")) -> list[Path]:
    """After a run: its page, its system's summary and the index. A page problem never fails the run."""
    try:
        all_runs = local.scan(results_dir)
        system = run_dir.parent.parent.parent.parent.name
        runs = all_runs.get(system, {})
        facts = check_round(_round_of(runs))
        view = next(v for per in runs.values() for vs in per.values() for v in vs if v.run_dir == run_dir)
        return [render_run(view, results_dir), render_summary(results_dir, system, runs, systems_dir, facts),
                render_index(results_dir, all_runs, facts)]
    except Exception as exc:  # noqa: BLE001 - the run's results are already saved; pages can be rebuilt
        print(f"!! results pages not updated ({exc}): run `python -m harness report`", flush=True)
        return []


def render_submission(submission_dir: Path, submitter: str, system: str, out: Path | None = None,
                      round_name: str = DEFAULT_ROUND, division: str | None = None) -> Path:
    """The MLPerf results page of one system of a submission tree."""
    found = submission.locate(submission_dir, submitter, system, division)
    path = out if out is not None else found.default_page
    page_dir = Path(os.path.abspath(path)).parent
    results = submission.read_results(found, page_dir)
    facts = check_round(round_name)
    page = build(found.description, results, facts, found.notes, source=str(found.results_dir))
    page.buttons = submission.buttons(found, page_dir)
    return _write_summary(path, page, None)


def page_as_dict(page: SummaryPage) -> dict[str, Any]:
    """The page model as plain data (for tests and tools that compare pages)."""
    return asdict(page)
