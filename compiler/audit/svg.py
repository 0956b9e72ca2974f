"""Small line charts as SVG text: gate metrics over time, with their thresholds, no plotting library."""

from __future__ import annotations

from datetime import datetime
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 30, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / (count - 1) if high > low else 1.0
    return [low + i * step for i in range(count)]


def line_chart(title: str, series: dict[str, list[tuple[datetime, float]]],
               thresholds: list[tuple[str, float]] | None = None) -> str:
    """An SVG chart of each series over time; dashed lines mark thresholds (a gate's min or max)."""
    thresholds = thresholds or []
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    xs = [p[0].timestamp() for p in points]
    ys = [p[1] for p in points] + [value for _, value in thresholds]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 3600, x1 + 3600
    pad = (y1 - y0) * 0.1 or abs(y1) * 0.1 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return TOP + (y1 - y) / (y1 - y0) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" role="img">',
             f"<title>{escape(title)}</title>",
             f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    for tick in _ticks(y0, y1):
        parts.append(f'<text x="{LEFT - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:.3g}</text>')
    for x in (x0, x1):
        label = datetime.fromtimestamp(x).strftime("%Y-%m-%d")
        parts.append(f'<text x="{px(x):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{label}</text>')
    for label, value in thresholds:
        y = py(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#555" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{LEFT + plot_w + 6}" y="{y + 4:.1f}" fill="#555">{escape(label)}</text>')
    for i, (name, values) in enumerate(sorted(series.items())):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{px(t.timestamp()):.1f},{py(v):.1f}" for t, v in sorted(values))
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{px(t.timestamp()):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>' for t, v in values)
        parts.append(f'<text x="{LEFT + plot_w + 6}" y="{TOP + 12 + 14 * i}" fill="{color}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
