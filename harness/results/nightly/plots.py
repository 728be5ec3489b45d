"""History plots (matplotlib, static SVG): one metric of one series over its runs, with the baseline's
band, today's runs and the change points marked. Elements carry ids (``baseline-band``, ``today``,
``change-point-<n>``) so a page, a test or a person with a text editor can find them in the SVG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PlotPoint:
    label: str  # x tick: the night (or the run's date)
    value: float
    today: bool = False


@dataclass(frozen=True)
class PlotSpec:
    title: str
    unit: str
    points: Sequence[PlotPoint]
    band: tuple[float, float] | None = None  # (low, high) around the baseline
    baseline: float | None = None
    change_points: Sequence[tuple[int, str]] = ()  # (index of the first point of the new level, label)
    regressed: bool = False
    note: str = ""


def draw(spec: PlotSpec, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG
    plt.rcParams["svg.hashsalt"] = "mlperf-harness"  # stable ids between renders
    fig, ax = plt.subplots(figsize=(7.5, 3.2), dpi=100)
    try:
        xs = list(range(len(spec.points)))
        values = [p.value for p in spec.points]
        past = [(x, p.value) for x, p in zip(xs, spec.points) if not p.today]
        today = [(x, p.value) for x, p in zip(xs, spec.points) if p.today]
        if spec.band is not None and xs:
            band = ax.axhspan(spec.band[0], spec.band[1], color="#4c9be8", alpha=0.18, lw=0,
                              label="baseline ± band")
            band.set_gid("baseline-band")
        if spec.baseline is not None:
            ax.axhline(spec.baseline, color="#1f5fa8", lw=1, ls="--", label="baseline (median)").set_gid("baseline")
        line = ax.plot(xs, values, color="#888", lw=1, zorder=2)[0]
        line.set_gid("history-line")
        if past:
            ax.plot(*zip(*past), "o", color="#1f5fa8", ms=4, zorder=3, label="earlier runs")[0].set_gid("history")
        if today:
            color = "#d62728" if spec.regressed else "#16794c"
            ax.plot(*zip(*today), "D", color=color, ms=7, zorder=4,
                    label="today (regressed)" if spec.regressed else "today")[0].set_gid(
                "today-regressed" if spec.regressed else "today")
        for n, (index, label) in enumerate(spec.change_points):
            marker = ax.axvline(index - 0.5, color="#ff7f0e", lw=1.5, ls=":", label="change point" if n == 0 else None)
            marker.set_gid(f"change-point-{n}")
            ax.annotate(label, (index - 0.5, 1.0), xycoords=("data", "axes fraction"), fontsize=8, color="#b35806",
                        ha="left", va="top", xytext=(3, -2), textcoords="offset points")
        if values and max(values) == min(values):  # a flat series: give it some room
            pad = max(abs(values[0]) * 0.05, 1.0)
            ax.set_ylim(values[0] - pad, values[0] + pad)
        else:
            ax.margins(y=0.15)
        step = max(1, len(xs) // 10)
        ax.set_xticks(xs[::step], [spec.points[i].label for i in xs[::step]], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(spec.unit or "value", fontsize=9)
        title = ax.set_title(spec.title + (f"  ({spec.note})" if spec.note else ""), fontsize=10)
        title.set_gid("plot-title")
        ax.grid(axis="y", color="#eee")
        ax.legend(fontsize=7, loc="best", framealpha=0.8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format="svg", metadata={"Date": None})
        tmp.replace(path)
    finally:
        plt.close(fig)
    return path
