"""The comparison page: a box's results beside the published MLPerf results for its GPU model, and its JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.results.compare import CompareReport, Comparison
from harness.results.pages.local import relative
from harness.results.pages.render import write_page
from harness.results.published import Published

PAGE = "index.html"
DATA = "compare.json"
# Ratio bars are drawn up to this ratio.
BAR_MAX = 1.5


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"


def source_url(source: str) -> str | None:
    """'mlcommons/inference_results_v4.1@198fc46799b3:closed/...' -> the file on GitHub."""
    repo, _, path = source.partition(":")
    if not path or "/" not in repo:
        return None
    repo, _, commit = repo.partition("@")
    return f"https://github.com/{repo}/blob/{commit or 'main'}/{path}"


def _published(row: Published | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"label": f"{row.submitter} {row.system}", "round": row.round, "count": row.accelerators,
            "value": number(row.value), "per_gpu": number(row.per_accelerator), "metric": row.metric,
            "note": row.note, "href": source_url(row.source)}


def _row(c: Comparison, page_dir: Path) -> dict[str, Any]:
    m = c.measured
    ratio = c.ratio
    span = c.published_range
    return {
        "model": m.mlperf_model, "scenario": m.scenario, "metric": m.metric,
        "value": number(m.value), "per_gpu": number(c.per_gpu), "run_id": m.run_id, "when": m.started_at,
        "href": relative(Path(m.evidence), page_dir) if m.evidence else None,
        "reference": _published(c.reference), "ratio": f"{ratio:.2f}" if ratio is not None else "",
        "bar_pct": round(min(ratio, BAR_MAX) / BAR_MAX * 100, 1) if ratio is not None else 0,
        "range": f"{number(span[0])} - {number(span[1])}" if span else "", "systems": len(c.published),
        "same_system": _published(c.same_system), "agrees": c.same_system_agrees,
        "flag": c.flag, "comparable": not c.flag, "note": c.note,
    }


def render_compare(report: CompareReport, page_dir: Path) -> Path:
    """page_dir/index.html and page_dir/compare.json."""
    page_dir.mkdir(parents=True, exist_ok=True)
    (page_dir / DATA).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    rows = [_row(c, page_dir.resolve()) for c in report.rows]
    return write_page(page_dir / PAGE, "compare.html", title=f"{report.title} vs published MLPerf results",
                      report=report, rows=rows, with_same_system=any(c.same_system for c in report.rows),
                      bar_one_pct=round(100 / BAR_MAX, 1), data_href=DATA)
