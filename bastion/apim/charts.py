"""Charts drawn on the server as inline SVG: no script, no CDN, readable without CSS.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` listing the values,
so a screen reader gets the numbers the bars show; the page also prints them as a table.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 48, 28, 12


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    stacked: Sequence[float] | None = None,
) -> Markup:
    """Bars for ``points`` (label, value); ``stacked`` (same length) is drawn inside each
    bar in the accent colour (errors within requests)."""
    top = max([v for _, v in points] + [1.0])
    top = _nice(top)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(points), 1)
    bar = max(step * 0.7, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{_id(title)}-t {_id(title)}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_id(title)}-t">{escape(title)}</title>',
        f'<desc id="{_id(title)}-d">'
        + escape(", ".join(f"{label}: {_fmt(v)}{unit}" for label, v in points) or "no data")
        + "</desc>",
    ]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(value)}</text>"
        )
    every = max(1, len(points) // 8)
    for i, (label, value) in enumerate(points):
        x = LEFT + i * step + (step - bar) / 2
        h = plot_h * value / top
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" '
            f'height="{h:.1f}"><title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></rect>'
        )
        if stacked is not None and stacked[i]:
            e = plot_h * stacked[i] / top
            parts.append(
                f'<rect class="bar-alt" x="{x:.1f}" y="{TOP + plot_h - e:.1f}" '
                f'width="{bar:.1f}" height="{e:.1f}"/>'
            )
        if i % every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label[5:] if len(label) == 10 else label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice(value: float) -> float:
    """The smallest 1-2-5 number at or above ``value``, so the grid reads in round steps."""
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    for factor in (1, 2, 5, 10):
        if scale * factor >= value:
            return scale * factor
    return value


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _id(title: str) -> str:
    return "c" + "".join(ch if ch.isalnum() else "-" for ch in title.lower())
