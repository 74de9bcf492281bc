"""Bar charts as plain geometry, drawn by the page as inline SVG (no script, no library).

``grouped_bars`` draws one bar per series in each group (accuracy by step tolerance);
``histograms`` draws each series' distribution over shared bins (cost, time). Values
are placed in a fixed ``viewBox``; the page scales the SVG to its width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH = 640.0
HEIGHT = 240.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 48.0, 8.0, 10.0, 34.0
SERIES_CLASSES = 6
"""Series colours before they repeat (``series-0`` ... ``series-5`` in the page's style)."""


@dataclass(frozen=True)
class Bar:
    """One bar, its series (for its colour) and its tooltip."""

    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True)
class Tick:
    """A labelled position on an axis."""

    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    """What one chart draws."""

    title: str
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[str]
    width: float = WIDTH
    height: float = HEIGHT
    left: float = _LEFT
    bottom: float = HEIGHT - _BOTTOM
    notes: list[str] = field(default_factory=list)


def short_number(value: float) -> str:
    """``0``, ``0.0012``, ``0.35``, ``4.2``, ``120``: few digits, no exponent."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}".removesuffix(".0")
    digits = 2
    while digits < 8 and abs(value) < 10 ** -(digits - 1):
        digits += 1
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def grouped_bars(
    title: str,
    groups: Sequence[str],
    series: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    top: float = 1.0,
    label: Callable[[float], str] = lambda v: f"{100 * v:.0f}%",
) -> Chart:
    """``values[s][g]`` as bars, one group per ``groups`` item; None draws no bar."""
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    bars = []
    for s, row in enumerate(values):
        for g, value in enumerate(row):
            if value is None:
                continue
            height = plot_h * min(max(value / top, 0.0), 1.0) if top else 0.0
            bars.append(
                Bar(
                    x=round(_LEFT + g * group_w + group_w * 0.1 + s * bar_w, 2),
                    y=round(HEIGHT - _BOTTOM - height, 2),
                    width=round(max(bar_w - 1, 0.5), 2),
                    height=round(height, 2),
                    series=s % SERIES_CLASSES,
                    title=f"{series[s]} · {groups[g]}: {label(value)}",
                )
            )
    x_ticks = [Tick(at=_LEFT + (g + 0.5) * group_w, label=name) for g, name in enumerate(groups)]
    y_ticks = [
        Tick(at=HEIGHT - _BOTTOM - plot_h * step / 4, label=label(top * step / 4))
        for step in range(5)
    ]
    return Chart(title=title, bars=bars, x_ticks=x_ticks, y_ticks=y_ticks, series=list(series))


def histograms(
    title: str,
    series: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    bins: int = 10,
    unit: Callable[[float], str] = short_number,
) -> Chart:
    """How many values of each series fall in each of ``bins`` equal bins from 0 to the
    largest value."""
    largest = max((v for row in values for v in row), default=0.0)
    high = largest if largest > 0 else 1.0
    width = high / bins
    counts = [[0] * bins for _ in values]
    for s, row in enumerate(values):
        for value in row:
            counts[s][min(int(max(value, 0.0) / width), bins - 1)] += 1
    groups = [f"{unit(b * width)}–{unit((b + 1) * width)}" for b in range(bins)]
    most = max((c for row in counts for c in row), default=0) or 1
    chart = grouped_bars(
        title,
        groups,
        series,
        [[float(c) for c in row] for row in counts],
        top=float(most),
        label=lambda v: f"{v:.0f}",
    )
    edges = [
        Tick(at=_LEFT + b * (WIDTH - _LEFT - _RIGHT) / bins, label=unit(b * width))
        for b in range(0, bins + 1, max(bins // 5, 1))
    ]
    return Chart(
        title=chart.title,
        bars=[
            Bar(
                x=bar.x,
                y=bar.y,
                width=bar.width,
                height=bar.height,
                series=bar.series,
                title=bar.title.replace(" · ", " · traces in ", 1),
            )
            for bar in chart.bars
        ],
        x_ticks=edges,
        y_ticks=chart.y_ticks,
        series=chart.series,
    )
