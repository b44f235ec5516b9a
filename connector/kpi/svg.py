"""Bar and line charts as inline SVG, so the report page needs no script and no external file.

Charts are drawn in a fixed 360-unit-wide ``viewBox`` and scale to the page width, which keeps
them legible on a 390 px phone and sharp when printed. Every piece of text is escaped with
``markupsafe`` before it goes into the markup; the result is ``Markup`` the template inserts
as is.
"""

from __future__ import annotations

__all__ = ["Series", "bar_chart", "line_chart", "nice_max"]

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 360
HEIGHT = 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 8, 30, 28
_GRID = "#e3e7ee"
_AXIS = "#6b7280"


@dataclass(frozen=True)
class Series:
    """A named list of values (``None``: no value at that point), drawn in ``color``."""

    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


def nice_max(value: float, *, whole: bool = False) -> float:
    """The top of an axis with four equal steps, each a round number (1, 1.5, 2, 2.5, 3, 4, 5,
    6 or 8 × 10ⁿ), at or above ``value``; ``whole`` keeps the steps whole numbers (counts)."""
    if value <= 0:
        return 4.0 if whole else 1.0
    wanted = value / 4
    power = 10.0 ** math.floor(math.log10(wanted))
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * power
        if step + 1e-9 >= wanted and (not whole or (step >= 1 and float(step).is_integer())):
            return 4 * step
    return 4.0 * math.ceil(wanted)  # whole steps below 1: the loop found none


def _text_width(text: str) -> float:
    """Rough width in viewBox units of ``text`` at the legend's font size (CJK glyphs are wider)."""
    return sum(10.5 if ord(ch) > 0x2E80 else 5.8 for ch in text)


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"


def _frame(title: str, top: float, legend: Sequence[Series]) -> list[str]:
    """The title, horizontal grid lines with their values, and the legend."""
    plot_h = HEIGHT - _TOP - _BOTTOM
    out = [f'<text x="0" y="12" class="ct">{escape(title)}</text>']
    for i in range(5):
        y = _TOP + plot_h * i / 4
        out.append(f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>')
        label = _num(top * (4 - i) / 4)
        out.append(f'<text x="{_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end" class="cl">{escape(label)}</text>')
    x: float = _LEFT
    for series in legend:
        dash = ' stroke-dasharray="4 3"' if series.dashed else ""
        out.append(f'<line x1="{x}" x2="{x + 14}" y1="22" y2="22" stroke="{series.color}" stroke-width="3"{dash}/>')
        out.append(f'<text x="{x + 18}" y="25" class="cl">{escape(series.name)}</text>')
        x += 28 + _text_width(series.name)
    return out


def _svg(title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def line_chart(title: str, series: Sequence[Series], x_labels: Sequence[str], *, whole: bool = True) -> Markup:
    """Lines over a shared x axis (e.g. incidents per day of this period and of the last).

    A series may be shorter than the axis (a 30-day month against a 31-day one). ``whole``:
    the values are counts, so the axis steps are whole numbers.
    """
    points = max((len(s.values) for s in series), default=0)
    top = nice_max(max((v for s in series for v in s.values if v is not None), default=0), whole=whole)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    step = plot_w / max(points - 1, 1)
    body = _frame(title, top, series)
    for series_ in series:
        coords = [
            f"{_LEFT + i * step:.1f},{_TOP + plot_h * (1 - v / top):.1f}"
            for i, v in enumerate(series_.values)
            if v is not None
        ]
        if coords:
            dash = ' stroke-dasharray="4 3"' if series_.dashed else ""
            body.append(
                f'<polyline fill="none" stroke="{series_.color}" stroke-width="2"{dash} points="{" ".join(coords)}"/>'
            )
    every = max(1, math.ceil(len(x_labels) / 8))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            x = _LEFT + i * step
            body.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle" class="cl">{escape(label)}</text>')
    return _svg(title, body)


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *, whole: bool = True) -> Markup:
    """Grouped vertical bars: one group per category, one bar per series, value on top
    (``whole``: counts, whole-number axis steps)."""
    top = nice_max(max((v for s in series for v in s.values if v is not None), default=0), whole=whole)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.7 / max(len(series), 1)
    body = _frame(title, top, series)
    for i, category in enumerate(categories):
        x0 = _LEFT + i * group_w + group_w * 0.15
        for j, series_ in enumerate(series):
            value = series_.values[i] if i < len(series_.values) else None
            x = x0 + j * bar_w
            if value is None:
                body.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{_TOP + plot_h - 3}" text-anchor="middle" class="cl">—</text>'
                )
                continue
            h = plot_h * value / top
            body.append(
                f'<rect x="{x:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                f'fill="{series_.color}"><title>{escape(series_.name)} {escape(category)}: '
                f"{escape(_num(value))}</title></rect>"
            )
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{_TOP + plot_h - h - 3:.1f}" text-anchor="middle" '
                f'class="cv">{escape(_num(value))}</text>'
            )
        body.append(
            f'<text x="{_LEFT + (i + 0.5) * group_w:.1f}" y="{HEIGHT - 10}" text-anchor="middle" class="cl">'
            f"{escape(category)}</text>"
        )
    return _svg(title, body)
