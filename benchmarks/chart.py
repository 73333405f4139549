"""The performance page's chart: a plain SVG file, written by the benchmark run that measured it.

Two panels on log-log axes: time per call against the body's size (ours and the alternatives),
and SqlStore's claim+complete against the records already stored. No plotting library: the
figure is a few lines and polylines, so the benchmark needs nothing beyond its own extra.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

Points = Mapping[str, Sequence[tuple[float, float]]]
"""Series name -> (x, seconds per call) points."""

COLOURS = ["#3949ab", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b"]
WIDTH, HEIGHT, MARGIN = 460, 300, 58


def svg(panels: Sequence[tuple[str, str, Points]]) -> str:
    """An SVG with one panel per ``(title, x label, series)``, side by side."""
    width = WIDTH * len(panels)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT + 150}"'
        f' viewBox="0 0 {width} {HEIGHT + 150}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{HEIGHT + 150}" fill="white"/>',
    ]
    for index, (title, x_label, series) in enumerate(panels):
        parts += _panel(index * WIDTH, title, x_label, series)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(left: float, title: str, x_label: str, series: Points) -> list[str]:
    points = [point for values in series.values() for point in values]
    if not points:
        return []
    xs = [math.log10(x) for x, _ in points]
    ys = [math.log10(y * 1e6) for _, y in points]  # microseconds
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN + 20

    def at(x: float, y: float) -> tuple[float, float]:
        px = left + MARGIN + (math.log10(x) - x0) / (x1 - x0) * plot_w
        py = MARGIN + plot_h - (math.log10(y * 1e6) - y0) / (y1 - y0) * plot_h
        return px, py

    top, bottom = MARGIN, MARGIN + plot_h
    out = [
        f'<text x="{left + WIDTH / 2}" y="20" text-anchor="middle" font-size="13"'
        f' font-weight="bold">{escape(title)}</text>',
        f'<text x="{left + WIDTH / 2}" y="{bottom + 32}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="{left + 14}" y="{(top + bottom) / 2}" text-anchor="middle"'
        f' transform="rotate(-90 {left + 14} {(top + bottom) / 2})">microseconds per call</text>',
    ]
    for power in range(x0, x1 + 1):
        px = left + MARGIN + (power - x0) / (x1 - x0) * plot_w
        out.append(f'<line x1="{px}" y1="{top}" x2="{px}" y2="{bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{px}" y="{bottom + 14}" text-anchor="middle">{_power(power)}</text>')
    for power in range(y0, y1 + 1):
        py = bottom - (power - y0) / (y1 - y0) * plot_h
        right = left + MARGIN + plot_w
        out.append(f'<line x1="{left + MARGIN}" y1="{py}" x2="{right}" y2="{py}" stroke="#ddd"/>')
        out.append(
            f'<text x="{left + MARGIN - 4}" y="{py + 4}" text-anchor="end">{_power(power)}</text>'
        )
    for number, (name, values) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in sorted(values)))
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in values:
            px, py = at(x, y)
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
        legend_y = bottom + 50 + 15 * number
        out.append(
            f'<rect x="{left + MARGIN}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>'
        )
        out.append(f'<text x="{left + MARGIN + 15}" y="{legend_y + 1}">{escape(name)}</text>')
    return out


def _power(power: int) -> str:
    value = 10.0**power
    if value >= 1:
        return f"{value:,.0f}"
    return f"{value:g}"
