"""Inline SVG charts for the static pages: latency percentiles (bars) and telemetry over time (lines)."""

from __future__ import annotations

import math
from html import escape

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return value


def _num(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"


def bar_chart(bars: list[tuple[str, float]], unit: str, bound: tuple[str, float] | None = None,
              title: str = "", highlight: str | None = None) -> str:
    """Horizontal bars (label, value); an optional vertical bound line, e.g. the Server latency limit."""
    width, left, right, bar_h, gap, top = 720, 70, 110, 22, 8, 28
    height = top + len(bars) * (bar_h + gap) + 30
    largest = max([v for _, v in bars] + ([bound[1]] if bound else []) + [0.0])
    scale_max = _nice_max(largest)
    plot_w = width - left - right

    def x(value: float) -> float:
        return left + plot_w * value / scale_max

    parts = [f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>']
    for i in range(5):
        tick = scale_max * i / 4
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{height - 26}" '
                     f'stroke="#ddd"/><text x="{x(tick):.1f}" y="{height - 10}" text-anchor="middle" '
                     f'class="tick">{_num(tick)}</text>')
    for index, (label, value) in enumerate(bars):
        y = top + index * (bar_h + gap)
        color = "#d62728" if label == highlight else "#4c78a8"
        parts.append(f'<text x="{left - 8}" y="{y + bar_h - 6}" text-anchor="end" class="label">{escape(label)}</text>'
                     f'<rect x="{left}" y="{y}" width="{max(x(value) - left, 1):.1f}" height="{bar_h}" '
                     f'fill="{color}"><title>{escape(label)}: {_num(value)} {escape(unit)}</title></rect>'
                     f'<text x="{x(value) + 6:.1f}" y="{y + bar_h - 6}" class="value">{_num(value)} '
                     f'{escape(unit)}</text>')
    if bound is not None:
        bx = x(bound[1])
        parts.append(f'<line x1="{bx:.1f}" y1="{top - 6}" x2="{bx:.1f}" y2="{height - 26}" stroke="#d62728" '
                     f'stroke-dasharray="5,3" stroke-width="2"/><text x="{bx:.1f}" y="{top - 8}" '
                     f'text-anchor="middle" class="bound">{escape(bound[0])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: dict[str, list[tuple[float, float]]], unit: str, title: str = "",
               x_unit: str = "s") -> str:
    """One polyline per series (name -> [(x, y)]), shared axes, a legend."""
    width, height, left, right, top, bottom = 720, 240, 64, 20, 28, 40
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    x_max = _nice_max(max(p[0] for p in points))
    y_low = min(p[1] for p in points)
    y_high = max(p[1] for p in points)
    y_min = 0.0 if y_low >= 0 and y_low < 0.5 * y_high else y_low - 0.1 * (y_high - y_low or abs(y_low) or 1)
    y_max = y_min + _nice_max(y_high - y_min) if y_high > y_min else y_min + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(value: float) -> float:
        return left + plot_w * value / x_max

    def py(value: float) -> float:
        return top + plot_h * (1 - (value - y_min) / (y_max - y_min))

    parts = [f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" class="chart-title">{escape(title)} ({escape(unit)})</text>']
    for i in range(5):
        yv = y_min + (y_max - y_min) * i / 4
        xv = x_max * i / 4
        parts.append(f'<line x1="{left}" y1="{py(yv):.1f}" x2="{width - right}" y2="{py(yv):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{py(yv) + 4:.1f}" text-anchor="end" class="tick">{_num(yv)}</text>'
                     f'<text x="{px(xv):.1f}" y="{height - bottom + 16}" text-anchor="middle" class="tick">'
                     f'{_num(xv)} {escape(x_unit)}</text>')
    for index, (name, values) in enumerate(series.items()):
        color = _PALETTE[index % len(_PALETTE)]
        coords = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}">'
                     f'<title>{escape(name)}</title></polyline>')
        if len(values) == 1:
            a, b = values[0]
            parts.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{color}"/>')
        parts.append(f'<rect x="{left + 10 + index * 110}" y="{height - 14}" width="10" height="10" '
                     f'fill="{color}"/><text x="{left + 24 + index * 110}" y="{height - 5}" class="tick">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
