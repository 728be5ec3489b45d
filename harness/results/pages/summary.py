"""The MLPerf results page of one system (summary.html): header, system-description sections, results table.

The page model is filled from two sources that share it: this harness's results store (pages/local.py) and
an MLPerf submission tree (pages/submission.py). Both hand over a system description and one
ScenarioResult per benchmark x scenario they found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.machine.description import check
from harness.results.pages.facts import (
    COPYRIGHT,
    RoundFacts,
    availability_text,
    category_scenarios,
    expected_unit,
    round_date,
)
from harness.results.pages.facts import row_name as page_row_name


@dataclass
class ScenarioResult:
    """One results-table cell pair: what to show for a benchmark in a scenario."""

    unit: str = ""
    value_text: str = ""
    value: float | None = None
    valid: bool | None = None
    href: str | None = None
    # Set when the result is not there or cannot be read: shown in place of the number.
    problem: str = ""
    # Why the result is not comparable with published MLPerf numbers (demo data, null backend...).
    stamp: str = ""
    accuracy_text: str = ""
    run_id: str = ""


@dataclass
class Cell:
    scenario: str
    kind: str  # "result", "missing" (applies but absent or unreadable) or "na" (does not apply)
    result: ScenarioResult = field(default_factory=ScenarioResult)
    footnote: int | None = None  # number of the note saying why the result is not comparable


@dataclass
class Row:
    name: str
    mlperf_model: str
    accuracy_target: str
    cells: list[Cell]


@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]]
    wide: bool = False


@dataclass
class Button:
    label: str
    href: str | None


@dataclass
class SummaryPage:
    round: str
    date: str
    copyright: str
    submitter: str
    system_name: str
    category: str
    division: str
    availability: str
    sections: list[Section]
    scenarios: list[str]
    rows: list[Row]
    open_division: bool
    buttons: list[Button] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    source: str = ""


_ACCELERATOR_FIRST = ("accelerator_model_name", "accelerators_per_node", "accelerator_memory_capacity",
                      "accelerator_host_interconnect")
_PROCESSOR_FIRST = ("host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
                    "host_processor_frequency")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def sections(desc: dict[str, Any]) -> list[Section]:
    """Group systems-file keys as the MLPerf page does (by key substrings, in file order)."""
    def pick(first: tuple[str, ...], test: Any) -> list[tuple[str, str]]:
        rows = [(k, _text(desc[k])) for k in first if k in desc]
        rows += [(k, _text(v)) for k, v in desc.items() if k not in first and test(k)]
        return rows

    def has(*parts: str) -> Any:
        return lambda k: any(p in k for p in parts) and "accelerator" not in k

    return [
        Section("Accelerator Details", pick(_ACCELERATOR_FIRST, lambda k: k.startswith("accelerator"))),
        Section("Processor and Memory Details", pick(_PROCESSOR_FIRST, has("processor", "cpu", "memory"))),
        Section("Other Hardware Details", pick((), has("hardware", "disk", "cooling", "power", "hw_"))),
        Section("Network and Interconnect Details", pick((), has("network", "nics"))),
        Section("Software Details", pick((), lambda k: any(
            p in k for p in ("software", "framework", "firmware", "sw_", "operating_"))), wide=True),
    ]


def build(desc: dict[str, Any], results: dict[str, dict[str, ScenarioResult]], facts: RoundFacts,
          desc_notes: list[str] | None = None, source: str = "") -> SummaryPage:
    """results[mlperf_model][scenario] -> the page. Scenarios a benchmark has no result for show what is
    missing when the round requires them, and N/A when they do not apply."""
    notes = list(desc_notes or [])
    notes += [f"system description: {line}" for line in check(desc).lines()] if desc else []
    category = _text(desc.get("system_type")) or "datacenter"
    division = _text(desc.get("division")) or "closed"
    page_scenarios = list(category_scenarios(category))
    for per_scenario in results.values():  # a scenario outside the category still gets a column
        page_scenarios += [s for s in per_scenario if s not in page_scenarios]
    used = {s for per_scenario in results.values() for s in per_scenario}
    for model in results:
        bench = facts.benchmark(model)
        used |= set(bench.scenarios if bench else ())
    scenarios = [s for s in page_scenarios if s in used]
    rows = []
    footnotes: list[str] = []
    for model in sorted(results, key=facts.order_key):
        bench = facts.benchmark(model)
        required = bench.scenarios if bench else tuple(results[model])
        cells = []
        for scenario in scenarios:
            found = results[model].get(scenario)
            if found is not None and not found.problem:
                cells.append(Cell(scenario, "result", found))
                if found.stamp:
                    if found.stamp not in footnotes:
                        footnotes.append(found.stamp)
                    cells[-1].footnote = footnotes.index(found.stamp) + 1
            elif found is not None or scenario in required:
                missing = found or ScenarioResult(problem="no result")
                missing.unit = missing.unit or expected_unit(model, scenario)
                cells.append(Cell(scenario, "missing", missing))
            else:
                cells.append(Cell(scenario, "na"))
        target = bench.target_text if bench else ""
        if bench is None:
            notes.append(f"{model}: not a benchmark of MLPerf Inference {facts.round}; no accuracy target known")
        rows.append(Row(page_row_name(model), model, target, cells))
    submitter = _text(desc.get("submitter"))
    return SummaryPage(
        round=facts.round, date=round_date(facts.round), copyright=COPYRIGHT,
        submitter=submitter or "(submitter not set)", system_name=_text(desc.get("system_name")) or "(unnamed)",
        category=category, division=division,
        availability=availability_text(_text(desc.get("status")) or "available", facts.round),
        sections=sections(desc), scenarios=scenarios, rows=rows, open_division=division == "open",
        notes=notes, footnotes=footnotes, source=source)
