"""A small SVG chart of per-era scores, written by hand (matplotlib is not a dependency).

`era_chart(eras, series, bars)` returns one self-contained SVG document: per-era bars (e.g.
CORR of each era, green above 0 and red below) and lines (e.g. cumulative CORR and MMC),
a zero line, y-axis ticks and a legend. Labels are escaped, so era names cannot inject
markup. Pure: returns text, writes nothing.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Optional
from xml.sax.saxutils import escape

__all__ = ["era_chart"]

WIDTH, HEIGHT = 900, 420
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 20, 40, 48
LINE_COLOURS = ("#1f5fbf", "#d9822b", "#6b3fa0", "#2a9d8f")
BAR_UP, BAR_DOWN = "#7fbf7f", "#e08080"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    span = high - low or 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def era_chart(eras: Sequence[str], lines: Mapping[str, Sequence[float]],
              bars: Optional[tuple[str, Sequence[float]]] = None, *, title: str = "") -> str:
    """An SVG document: bars and lines over the eras (x) against their values (y)."""
    n = len(eras)
    values = [v for series in lines.values() for v in series if math.isfinite(v)]
    if bars is not None:
        values += [v for v in bars[1] if math.isfinite(v)]
    low, high = min(values + [0.0]), max(values + [0.0])
    if high == low:
        high, low = high + 1e-3, low - 1e-3
    ticks = _ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    step = plot_w / max(n, 1)

    def x(k: float) -> float:
        return MARGIN_LEFT + (k + 0.5) * step

    def y(v: float) -> float:
        return MARGIN_TOP + (high - v) / (high - low) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    if title:
        out.append(f'<text x="{MARGIN_LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>')
    for t in ticks:
        out.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="#e6e6e6"/>')
        out.append(f'<text x="{MARGIN_LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    if bars is not None:
        width = max(step * 0.7, 1.0)
        for k, v in enumerate(bars[1]):
            if not math.isfinite(v):
                continue
            top, bottom = (y(v), y(0)) if v >= 0 else (y(0), y(v))
            out.append(f'<rect x="{x(k) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                       f'height="{max(bottom - top, 0.5):.1f}" fill="{BAR_UP if v >= 0 else BAR_DOWN}"/>')
    out.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
               'stroke="#333" stroke-width="1"/>')
    for (name, series), colour in zip(lines.items(), LINE_COLOURS * 4):
        points = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in enumerate(series) if math.isfinite(v))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                   f'<title>{escape(name)}</title></polyline>')
    label_every = max(1, math.ceil(n / 12))
    for k in range(0, n, label_every):
        out.append(f'<text x="{x(k):.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">'
                   f'{escape(str(eras[k]))}</text>')
    out.append(f'<text x="{MARGIN_LEFT + plot_w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">era</text>')
    legend = list(lines) + ([bars[0]] if bars is not None else [])
    colours = list(LINE_COLOURS * 4)[:len(lines)] + ([BAR_UP] if bars is not None else [])
    for k, (name, colour) in enumerate(zip(legend, colours)):
        lx = WIDTH - MARGIN_RIGHT - 180
        ly = MARGIN_TOP + 8 + 16 * k
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
