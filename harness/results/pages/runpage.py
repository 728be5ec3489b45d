"""What the run page (run.html beside a run's logs) shows, built from the run folder's files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.machine.telemetry import SERIES_FILE
from harness.results.logparse import latency_summary_ns
from harness.results.pages.charts import bar_chart, line_chart
from harness.results.pages.facts import performance_text
from harness.results.pages.local import INDEX_PAGE, SUMMARY_PAGE, RunView, relative

_LATENCY_ORDER = ("min", "p50", "p90", "p95", "p97", "p99", "p99.9", "max", "mean")
_TELEMETRY_CHARTS = (("sm_clock_mhz", "SM clock", "MHz"), ("mem_clock_mhz", "Memory clock", "MHz"),
                     ("power_w", "Power", "W"), ("temperature_c", "Temperature", "°C"),
                     ("utilization_pct", "Utilization", "%"))
_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "accuracy.txt",
          "user.conf", "run.json", SERIES_FILE, "mlperf_log_trace.json")


def stamps(view: RunView) -> list[str]:
    """The loud notes every page of a run carries when its numbers are not real MLPerf numbers."""
    rec = view.record
    if rec is None:
        return ["this folder has no run.json: what the harness did is unknown"]
    out = []
    if rec.data.get("demo"):
        out.append(f"DEMO DATA: {rec.data.get('note') or 'built-in demo set'}")
    if rec.weights.get("random") and rec.backend.get("name") != "null":
        out.append(f"RANDOM WEIGHTS: {rec.weights.get('description', '')}")
    if rec.backend.get("name") == "null":
        out.append("NULL BACKEND: no inference ran; the numbers measure the harness and LoadGen only")
    reasons = rec.comparable.get("reasons") or []
    if reasons and not rec.comparable.get("submission_grade", False):
        out.append("not comparable with MLPerf results: " + "; ".join(reasons))
    return out


def _latency(view: RunView) -> dict[str, Any]:
    if view.log is None:
        return {"rows": [], "chart": ""}
    lat = latency_summary_ns(view.log)
    rows = [(name, lat[name] / 1e6) for name in _LATENCY_ORDER if name in lat]
    bound = None
    highlight = None
    if view.scenario == "Server":
        bound_ns = view.log.get("effective_target_latency_ns")
        pct = float(view.log.get("effective_target_latency_percentile") or 0.99)
        highlight = f"p{pct * 100:g}"
        if isinstance(bound_ns, (int, float)) and bound_ns > 0:
            bound = (f"{highlight} bound {float(bound_ns) / 1e6:g} ms", float(bound_ns) / 1e6)
    title = ("Query latency percentiles" if view.scenario == "Server" else
             "Sample completion times from the query's issue (Offline: one query holds every sample)")
    chart = bar_chart([(n, v) for n, v in rows if n != "mean"], "ms", bound, title, highlight) if rows else ""
    return {"rows": rows, "chart": Markup(chart), "bound": bound}


def _effective(view: RunView) -> list[tuple[str, Any]]:
    if view.log is None:
        return []
    keys = sorted(k for k in view.log.values if k.startswith("effective_"))
    extra = [k for k in ("loadgen_version", "test_datetime", "result_validity", "early_stopping_result")
             if k in view.log]
    return [(k, view.log.get(k)) for k in extra + keys]


def _accuracy(view: RunView) -> dict[str, Any] | None:
    if view.mode != "accuracy":
        return None
    acc = view.record.accuracy if view.record is not None else {}
    metrics: dict[str, Any] = acc.get("metrics", {}) if acc else {}
    targets: dict[str, Any] = acc.get("targets", {}) if acc else {}
    rows = []
    for name in list(targets) + [m for m in metrics if m not in targets]:
        value, target = metrics.get(name), targets.get(name)
        met = None if value is None or target is None else float(value) >= float(target)
        # Targets are the checker's products (76.46 * 0.99 = 75.69539999999999): shown as 75.6954.
        shown = None if target is None else f"{float(target):.10g}"
        rows.append({"name": name, "value": value, "target": shown, "met": met})
    return {"rows": rows, "passed": acc.get("passed") if acc else None, "text": view.accuracy_txt,
            "notes": acc.get("notes", []) if acc else [], "mlperf_model": acc.get("mlperf_model", "") if acc else "",
            "samples": acc.get("samples") if acc else None}


def read_series(path: Path) -> list[dict[str, float]]:
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            row = {}
            for key, text in raw.items():
                try:
                    row[key] = float(text)
                except (TypeError, ValueError):
                    continue
            rows.append(row)
    return rows


def _telemetry(view: RunView) -> dict[str, Any]:
    info = view.record.telemetry if view.record is not None else {}
    if not info and (view.run_dir / SERIES_FILE).is_file():  # a run stopped before it could summarize
        info = {"recorded": True, "source": "NVML or nvidia-smi", "file": SERIES_FILE}
    if not info:
        return {"recorded": False, "reason": "this run has no telemetry record", "charts": []}
    if not info.get("recorded"):
        return {"recorded": False, "reason": info.get("reason", "nothing was recorded"), "charts": []}
    path = view.run_dir / str(info.get("file", SERIES_FILE))
    try:
        samples = read_series(path)
    except OSError as exc:
        return {"recorded": False, "reason": f"telemetry was recorded but {path.name} cannot be read ({exc})",
                "charts": []}
    charts = []
    for column, title, unit in _TELEMETRY_CHARTS:
        series: dict[str, list[tuple[float, float]]] = {}
        for row in samples:
            if column in row and "time_s" in row:
                series.setdefault(f"GPU {int(row.get('gpu', 0))}", []).append((row["time_s"], row[column]))
        if series:
            charts.append(Markup(line_chart(series, unit, title)))
    summary = [(gpu, metric, v) for gpu, metrics in (info.get("per_gpu") or {}).items()
               for metric, v in metrics.items()]
    return {"recorded": True, "source": info.get("source", ""), "samples": info.get("samples", len(samples)),
            "interval_s": info.get("interval_s"), "charts": charts, "summary": summary,
            "energy": energy_rows(info), "reason": "" if charts else f"{path.name} holds no samples"}


def energy_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """Energy and throttling lines of a telemetry summary (older records have neither)."""
    rows = []
    if info.get("energy_j") is not None:
        rows.append(("energy", f"{info['energy_j']:,.1f} J ({info.get('energy_source') or 'measured'})"))
    if info.get("energy_j_per_sample") is not None:
        rows.append(("energy per sample", f"{info['energy_j_per_sample'] * 1000:,.4g} mJ"))
    if "throttle_s" in info:
        if info.get("throttle_known") is False:
            rows.append(("throttled", "not reported by this GPU or driver"))
        else:
            reasons = {name: s for per in (info.get("throttle_reasons_s") or {}).values() for name, s in per.items()}
            detail = ", ".join(f"{name.replace('_', ' ')} {s:g} s" for name, s in sorted(reasons.items()))
            rows.append(("throttled (power or thermal limit)", f"{info['throttle_s']:g} s" +
                         (f" ({detail})" if detail else "")))
    return rows


def _environment(view: RunView) -> list[tuple[str, str]]:
    rec = view.record
    if rec is None:
        return []
    host = rec.system_info.get("host", {})
    gpus = host.get("gpus") or []
    gpu_text = f"{len(gpus)}x {gpus[0].get('name')}" if gpus else "none"
    rows = [("system", f"{rec.system}" + (f" (derived from {rec.system_info['derived_from']})"
                                          if rec.system_info.get("derived_from") else "")),
            ("GPUs", gpu_text), ("CPU", f"{host.get('cpu_model', '')} ({host.get('cpu_count', '?')} logical CPUs)"),
            ("memory", f"{host.get('memory_gib', '?')} GiB"), ("OS", str(host.get("os", ""))),
            ("backend", f"{rec.backend.get('name', '')} ({rec.backend.get('reason', '')}) on "
                        f"{', '.join(rec.backend.get('devices', []))}, precision {rec.backend.get('precision', '')}"),
            ("data", str(rec.data.get("note") or rec.data.get("location") or "")),
            ("weights", str(rec.weights.get("description", ""))),
            ("git", f"{rec.git.get('commit') or 'unknown'}"
                    + (" (uncommitted changes)" if rec.git.get("dirty") else "")),
            ("started / ended", f"{rec.started_at} / {rec.ended_at or '-'}")]
    rows += [(f"version: {k}", str(v)) for k, v in rec.versions.items()]
    return rows


def build(view: RunView, results_dir: Path) -> dict[str, Any]:
    """The template context of one run page."""
    rec = view.record
    key, value, unit = view.metric()
    verdict = view.verdict
    headline = None
    if view.mode == "performance" and value is not None:
        headline = {"key": key, "text": performance_text(value), "unit": unit}
    page_dir = view.run_dir
    return {
        "title": f"{view.mlperf_model} {view.scenario} {view.mode}: {view.system}",
        "view": view, "record": rec, "status": view.status, "complete": view.complete,
        "index_href": relative(results_dir / INDEX_PAGE, page_dir),
        "summary_href": relative(results_dir / view.system / SUMMARY_PAGE, page_dir),
        "problems": view.problems, "stamps": stamps(view), "headline": headline,
        "valid": view.valid, "failures": verdict.failures if verdict else [],
        "constraints": verdict.constraints if verdict else {},
        "latency": _latency(view), "effective": _effective(view),
        "knobs": rec.knobs if rec else {}, "plan": rec.loadgen.get("plan", {}) if rec else {},
        "user_conf": rec.loadgen.get("user_conf", "") if rec else "",
        "accuracy": _accuracy(view), "telemetry": _telemetry(view), "environment": _environment(view),
        "warnings": rec.warnings if rec else [], "error": rec.error if rec else None,
        "files": [name for name in _FILES if (view.run_dir / name).is_file()],
    }
