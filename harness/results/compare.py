"""A box's results beside the published MLPerf results for the same GPU model, per GPU.

What is measured comes from this harness's results store (the latest VALID performance run of each benchmark x
scenario) or from an MLPerf submission tree; what it is compared with comes from
configs/reference/published_results.csv (harness.results.published). The reference of a row is the published
system with the closest GPU count, then the newest round, then the best per-GPU figure; the range of every
published system with that GPU model is shown beside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results.explain import headline
from harness.results.pages import local, submission
from harness.results.pages.facts import PAGE_UNITS
from harness.results.published import Published, accelerator_names, candidates, reference, round_key

# The results page's units -> the published file's metrics.
METRICS = {unit: unit.lower() for unit in PAGE_UNITS.values()}
# Two numbers that print alike to the six digits LoadGen's detail log keeps are the same result.
SAME_RESULT_REL = 1e-5


@dataclass
class Measured:
    """One result of the box (or the submission tree) for a benchmark in a scenario, or why there is none."""

    mlperf_model: str
    scenario: str
    value: float | None = None
    metric: str = ""
    valid: bool | None = None
    run_id: str = ""
    started_at: str = ""
    # The run page, or the log, the number was read from.
    evidence: Path | None = None
    comparable: bool = True
    reasons: list[str] = field(default_factory=list)
    problem: str = ""


@dataclass
class Comparison:
    measured: Measured
    gpus: int
    reference: Published | None = None
    published: list[Published] = field(default_factory=list)
    # Submission trees: the published row of the same system, to check the file against the logs.
    same_system: Published | None = None
    note: str = ""

    @property
    def per_gpu(self) -> float | None:
        value = self.measured.value
        return value / self.gpus if value is not None and self.gpus else None

    @property
    def ratio(self) -> float | None:
        if self.per_gpu is None or self.reference is None:
            return None
        return self.per_gpu / self.reference.per_accelerator

    @property
    def published_range(self) -> tuple[float, float] | None:
        per_gpu = [r.per_accelerator for r in self.published]
        return (min(per_gpu), max(per_gpu)) if per_gpu else None

    @property
    def same_system_agrees(self) -> bool | None:
        if self.same_system is None or self.measured.value is None:
            return None
        return math.isclose(self.same_system.value, self.measured.value, rel_tol=SAME_RESULT_REL)

    @property
    def flag(self) -> str:
        """'' when the row can be read as is; otherwise what keeps it from comparing with MLPerf results."""
        if self.measured.value is None:
            return self.measured.problem or "no result"
        if self.measured.valid is False:
            return "INVALID"
        if not self.measured.comparable:
            return "not comparable: " + "; ".join(self.measured.reasons)
        return ""


@dataclass
class CompareReport:
    title: str
    source: str
    accelerator: str | None
    gpus: int
    round_name: str | None
    rows: list[Comparison]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def published(row: Published | None) -> dict[str, Any] | None:
            return None if row is None else {**asdict(row), "per_accelerator": row.per_accelerator}

        return {
            "title": self.title, "source": self.source, "accelerator": self.accelerator, "gpus": self.gpus,
            "round": self.round_name, "notes": self.notes,
            "rows": [{
                "mlperf_model": c.measured.mlperf_model, "scenario": c.measured.scenario,
                "value": c.measured.value, "metric": c.measured.metric, "valid": c.measured.valid,
                "run_id": c.measured.run_id, "started_at": c.measured.started_at,
                "evidence": str(c.measured.evidence) if c.measured.evidence else None,
                "comparable": c.measured.comparable and c.measured.valid is not False and c.measured.value is not None,
                "reasons": c.measured.reasons, "problem": c.measured.problem, "flag": c.flag,
                "per_gpu": c.per_gpu, "ratio": c.ratio, "reference": published(c.reference),
                "published_systems": len(c.published), "published_range_per_gpu": c.published_range,
                "same_system": published(c.same_system), "same_system_agrees": c.same_system_agrees,
                "note": c.note,
            } for c in self.rows],
        }


def compare(measured: list[Measured], rows: list[Published], accelerator: str | None, gpus: int,
            round_name: str | None = None, same_system: tuple[str, str] | None = None) -> list[Comparison]:
    """Each measured result beside the published ones for ``accelerator`` (None: nothing to compare with);
    ``same_system`` = (submitter, system) also looks up that system's own published row."""
    out = []
    for m in measured:
        row = Comparison(m, gpus)
        out.append(row)
        if same_system is not None:
            own = [r for r in rows if (r.submitter, r.system, r.model, r.scenario) == (*same_system, m.mlperf_model,
                                                                                        m.scenario)
                   and (round_name is None or r.round == round_name)]
            row.same_system = max(own, key=lambda r: round_key(r.round), default=None)
        if accelerator is None:
            row.note = "no published MLPerf result for a CPU-only run"
            continue
        every = candidates(rows, accelerator, m.mlperf_model, m.scenario, round_name)
        row.published = [r for r in every if not m.metric or r.metric == m.metric]
        row.reference = reference(row.published, gpus)
        if row.reference is None:
            other = sorted({r.metric for r in every})
            row.note = (f"published only in {', '.join(other)}" if other else
                        f"no published {accelerator} result" + (f" in {round_name}" if round_name else ""))
    return out


# -- this harness's results store ------------------------------------------------------------------------------

def measured_from_runs(runs: dict[str, dict[str, list[local.RunView]]]) -> list[Measured]:
    """The latest VALID performance run of every benchmark x scenario (runs[model][scenario], as local.scan)."""
    out = []
    for model in sorted(runs):
        for scenario in sorted(runs[model]):
            views = runs[model][scenario]
            best = local.latest(views, "performance", valid_only=True)
            if best is None:
                last = local.latest_or_last(views, "performance")
                if last is None:
                    continue  # accuracy runs only: nothing to compare
                why = local.why_not_valid(last)
                out.append(Measured(model, scenario, run_id=last.run_id, started_at=last.started_at,
                                    evidence=_evidence(last), problem=f"no VALID run (latest: {why})"))
                continue
            assert best.log is not None
            _, value, unit = headline(best.log, scenario)
            record = best.record
            comparable = bool(record and record.comparable.get("submission_grade"))
            reasons = list(record.comparable.get("reasons", [])) if record else ["not recorded by the harness"]
            out.append(Measured(model, scenario, value, unit, True, best.run_id, best.started_at, _evidence(best),
                                comparable, reasons, "" if value is not None else "the detail log has no result"))
    return out


def _evidence(view: local.RunView) -> Path:
    return view.page if view.page.is_file() else view.run_dir / "mlperf_log_summary.txt"


def gpus_of_runs(runs: dict[str, dict[str, list[local.RunView]]]) -> tuple[str | None, int]:
    """(GPU name, GPUs used) as the latest recorded run saw the machine; (None, 1) for a CPU-only machine."""
    views = sorted((v for per in runs.values() for vs in per.values() for v in vs if v.record is not None),
                   key=lambda v: v.started_at)
    for view in reversed(views):
        assert view.record is not None
        host = view.record.system_info.get("host") or {}
        gpus = [g.get("name", "") for g in host.get("gpus") or []]
        if not gpus:
            return None, 1
        used = [d for d in view.record.backend.get("devices") or [] if str(d).startswith("cuda")]
        return gpus[0], len(used) or len(gpus)
    return None, 1


def _tokens(name: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", name.lower())) - {"nvidia", "tesla"}


def published_accelerator(gpu_name: str, known: list[tuple[str, str]], rows: list[Published]) -> str | None:
    """The accelerator name MLPerf submissions use for a GPU as the driver names it ('NVIDIA H100 80GB HBM3' ->
    'NVIDIA H100-SXM-80GB'): the system configs' (model, match) pairs first, then the one published name that
    has every word of the GPU's name."""
    for model, match in known:
        if re.search(match, gpu_name, flags=re.IGNORECASE):
            return model
    words = _tokens(gpu_name)
    fits = [name for name in accelerator_names(rows) if words and words <= _tokens(name)]
    return fits[0] if len(fits) == 1 else None


# -- an MLPerf submission tree ------------------------------------------------------------------------------------

def submission_systems(submission_dir: Path) -> list[tuple[str, str, str]]:
    """(division, submitter, system) of every results/<system> folder of a submission tree."""
    return sorted((p.parent.parent.parent.name, p.parent.parent.name, p.name)
                  for p in submission_dir.glob("*/*/results/*") if p.is_dir())


def pick_submission_system(submission_dir: Path, submitter: str | None, system: str | None) -> tuple[str, str]:
    if not submission_dir.is_dir():
        raise HarnessError(f"submission directory {submission_dir} not found",
                           "pass the folder that holds closed/ (or open/)")
    found = [(org, name) for _, org, name in submission_systems(submission_dir)
             if (submitter is None or org == submitter) and (system is None or name == system)]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(f"{org}/{name}" for _, org, name in submission_systems(submission_dir)) or "none"
    if not found:
        raise HarnessError(f"no results/<system> folder under {submission_dir} for "
                           f"{submitter or '*'}/{system or '*'}", f"submitter/system pairs there: {listed}")
    raise HarnessError(f"{submission_dir} holds {len(found)} systems", f"pass --submitter and --system (one of "
                                                                       f"{listed})")


def gpus_of_description(desc: dict[str, Any]) -> tuple[str | None, int]:
    name = str(desc.get("accelerator_model_name") or "").strip() or None
    try:
        count = int(str(desc.get("accelerators_per_node", 1))) * int(str(desc.get("number_of_nodes", 1)))
    except ValueError:
        count = 1
    return name, max(count, 1)


def measured_from_submission(found: submission.SubmissionSystem) -> list[Measured]:
    """Every benchmark x scenario of a submission tree's system, read off its detail logs as the results page
    reads them."""
    out = []
    for model, per_scenario in submission.read_results(found, found.results_dir).items():
        for scenario, cell in per_scenario.items():
            summary = found.results_dir / model / scenario / "performance" / "run_1" / "mlperf_log_summary.txt"
            evidence = summary if summary.is_file() else None
            if cell.problem or cell.value is None:
                out.append(Measured(model, scenario, evidence=evidence, problem=cell.problem or "no result"))
                continue
            out.append(Measured(model, scenario, cell.value, METRICS.get(cell.unit, cell.unit.lower()), cell.valid,
                                evidence=evidence, comparable=bool(cell.valid),
                                reasons=[] if cell.valid else ["the performance run is not VALID"]))
    return out
