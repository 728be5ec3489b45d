"""MLPerf results-page conventions: row names, accuracy-target text, units, number format, header dates.

These follow the published MLPerf Inference results pages (summary.html per system) so that a page
rendered here reads the same as the one on the MLCommons site for the same logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError
from harness.results.explain import headline
from harness.results.logparse import DetailLog
from harness.rules import Rules, load_rules

COPYRIGHT = "Copyright 2019 - 2025 MLCommons"
# Benchmark directory name -> the name in the page's Model column (only resnet differs).
_ROW_NAMES = {"resnet50": "resnet"}
# Detail-log key of the headline metric -> the unit the page prints.
PAGE_UNITS = {
    "result_samples_per_second": "Samples/s",
    "result_completed_samples_per_sec": "Queries/s",
    "result_inferred_tokens_per_second": "Tokens/s",
    "result_inferred_completed_tokens_per_second": "Tokens/s",
}
# Scenario columns in page order, per system category.
_CATEGORY_SCENARIOS = {"datacenter": ("Server", "Offline"), "edge": ("Offline", "SingleStream", "MultiStream")}
AVAILABILITY = {"available": "Available", "preview": "Preview", "rdi": "Research and Internal"}


def row_name(mlperf_model: str) -> str:
    return _ROW_NAMES.get(mlperf_model, mlperf_model)


def expected_unit(mlperf_model: str, scenario: str) -> str:
    """The unit a benchmark's result would carry in a scenario (for cells still without a result)."""
    if mlperf_model.startswith("gptj"):
        return "Tokens/s"
    return {"Offline": "Samples/s", "Server": "Queries/s"}.get(scenario, "")


def accuracy_target_text(targets: dict[str, float]) -> str:
    """{'acc': 75.6954} -> 'acc: 75.6954'; several metrics are joined with ', ' (4 decimals at most)."""
    return ", ".join(f"{name}: {round(float(value), 4)}" for name, value in targets.items())


def performance_text(value: float) -> str:
    """The logged value as the results page prints it: 112968 -> '112968.0', 9.31163 -> '9.31163'."""
    return repr(float(value))


def round_date(round_name: str) -> str:
    """'v4.1' -> 'August 2024': vX.0 rounds publish in February, vX.1 in August, year 2020 + X."""
    try:
        major, minor = round_name.lstrip("vV").split(".")[:2]
        month = {"0": "February", "1": "August"}[minor]
        return f"{month} {2020 + int(major)}"
    except (ValueError, KeyError):
        return ""


def availability_text(status: str, round_name: str) -> str:
    label = AVAILABILITY.get(status.strip().lower(), status)
    date = round_date(round_name)
    return f"{label} as of {date}" if date and label else label


def category_scenarios(system_type: str) -> tuple[str, ...]:
    out: list[str] = []
    for category, scenarios in _CATEGORY_SCENARIOS.items():
        if category in system_type:
            out += [s for s in scenarios if s not in out]
    return tuple(out) or _CATEGORY_SCENARIOS["datacenter"]


@dataclass(frozen=True)
class Benchmark:
    """One row kind of the results table: an MLPerf benchmark (accuracy variant) under a round's rules."""

    mlperf_model: str
    loadgen_name: str
    targets: dict[str, float]
    scenarios: tuple[str, ...]

    @property
    def row(self) -> str:
        return row_name(self.mlperf_model)

    @property
    def target_text(self) -> str:
        return accuracy_target_text(self.targets)


class RoundFacts:
    """The benchmarks of one round, in page order (the rules file's order, 99 before 99.9)."""

    def __init__(self, rules: Rules) -> None:
        self.round = rules.round
        self.benchmarks: dict[str, Benchmark] = {}
        for model in rules.models.values():
            for mlperf_model, targets in model.accuracy_targets.items():
                self.benchmarks[mlperf_model] = Benchmark(mlperf_model, model.loadgen_name, dict(targets),
                                                          tuple(model.scenarios))

    @classmethod
    def load(cls, round_name: str) -> "RoundFacts":
        return cls(load_rules(round_name))

    def benchmark(self, mlperf_model: str) -> Benchmark | None:
        return self.benchmarks.get(mlperf_model)

    def order_key(self, mlperf_model: str) -> tuple[int, str]:
        names = list(self.benchmarks)
        return (names.index(mlperf_model), "") if mlperf_model in names else (len(names), mlperf_model)


def page_metric(log: DetailLog, scenario: str) -> tuple[str, float | None, str]:
    """(detail-log key, value, page unit) of the number the results page shows for this scenario."""
    key, value, _ = headline(log, scenario)
    return key, value, PAGE_UNITS.get(key, "")


def check_round(round_name: str) -> RoundFacts:
    try:
        return RoundFacts.load(round_name)
    except HarnessError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise HarnessError(f"rules for round {round_name} are malformed ({exc})", "check configs/rules") from None
