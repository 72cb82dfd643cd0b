"""Small server-side SVG charts for the console: bars, a line over time, a heat map and
intervals. No JavaScript, no dependencies.

Every chart is an ``<svg>`` string with ``role="img"``, an ``aria-label``, a
``data-chart="<name>"`` attribute (browser tests find charts by it) and a ``<title>`` on each
mark, which browsers show as a tooltip. All text is escaped. Output is deterministic: the
same data gives the same bytes. Empty data gives a "no data" SVG, never an error.

>>> svg = bar_chart("demo", [("a", 1.0), ("b", 3.0)], label="Demo bars")
>>> svg.startswith("<svg") and 'data-chart="demo"' in svg and svg.count("<rect") >= 2
True
>>> "no data" in bar_chart("empty", [], label="Nothing")
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

Fmt = Callable[[float], str]

INK = "#1d2330"
MUTED = "#5d6678"
LINE = "#d9dde5"
ACCENT = "#2456c8"
BAD = "#b3261e"
OK = "#1f7a3e"
LOW = (238, 243, 252)  # the heat map's palest colour (smallest value)
HIGH = (36, 86, 200)  # and its darkest (largest value)
CHAR = 6.2  # approximate width of one 11px character, for label margins


def compact(value: float) -> str:
    """A short label for a number: 1.2M, 12.3k, 12.5, 3.

    >>> [compact(v) for v in (0, 3, 12.5, 1234, 12_345, 1_234_567, -2500)]
    ['0', '3', '12.5', '1.23k', '12.3k', '1.23M', '-2.5k']
    """
    size = abs(value)
    if size >= 1e6:
        return _trim(f"{value / 1e6:.3g}") + "M"
    if size >= 1e3:
        return _trim(f"{value / 1e3:.3g}") + "k"
    if value == int(value):
        return str(int(value))
    return _trim(f"{value:.3g}")


def percent(value: float) -> str:
    """A signed percentage with one decimal: ``+3.2%``."""
    return f"{value * 100:+.1f}%"


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def _n(value: float) -> str:
    """A coordinate, fixed precision so the output is stable."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) inside ``[low, high]``.

    >>> nice_ticks(0, 980)
    [0.0, 200.0, 400.0, 600.0, 800.0]
    >>> nice_ticks(0, 0)
    [0.0]
    """
    if high <= low:
        return [float(low)]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    first = math.ceil(low / step) * step
    ticks = []
    k = 0
    while first + k * step <= high + 1e-9 * step:
        ticks.append(round(first + k * step, 10) + 0.0)
        k += 1
    return ticks


def _svg(name: str, label: str, width: float, height: float, body: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" role="img" '
        f'aria-label="{escape(label)}" data-chart="{escape(name)}">'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


def no_data(name: str, label: str, message: str = "no data", *, width: int = 640) -> str:
    """The chart's frame with a message instead of marks."""
    height = 80
    body = [
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none" '
        f'stroke="{LINE}"/>',
        f'<text class="no-data" x="{width / 2:g}" y="{height / 2 + 4:g}" text-anchor="middle" '
        f'fill="{MUTED}">{escape(message)}</text>',
    ]
    return _svg(name, f"{label}: {message}", width, height, body)


@dataclass(frozen=True, slots=True)
class _Frame:
    """A plot area inside margins, mapping values to pixels on the y axis."""

    left: float
    top: float
    width: float
    height: float
    low: float
    high: float

    def y(self, value: float) -> float:
        if self.high == self.low:
            return self.top + self.height
        return self.top + (self.high - value) / (self.high - self.low) * self.height


def _y_axis(frame: _Frame, fmt: Fmt) -> list[str]:
    out = []
    for tick in nice_ticks(frame.low, frame.high):
        y = _n(frame.y(tick))
        out.append(
            f'<line x1="{_n(frame.left)}" x2="{_n(frame.left + frame.width)}" y1="{y}" '
            f'y2="{y}" stroke="{LINE}"/>'
            f'<text x="{_n(frame.left - 6)}" y="{y}" dy="4" text-anchor="end" '
            f'fill="{MUTED}">{escape(fmt(tick))}</text>'
        )
    return out


def bar_chart(
    name: str,
    data: Sequence[tuple[str, float]],
    *,
    label: str,
    fmt: Fmt = compact,
    width: int = 640,
    height: int = 280,
    unit: str = "",
) -> str:
    """Vertical bars, one per ``(label, value)``, labelled below and with the value above.

    The value axis runs from 0 (or the smallest negative value) to the largest value, so
    the tallest bar fills the plot's height.
    """
    if not data:
        return no_data(name, label)
    longest = max(len(text) for text, _ in data)
    rotate = longest * CHAR > (width - 56) / len(data) - 4
    bottom = 18 + (longest * CHAR * 0.6 if rotate else 0)
    frame = _Frame(
        left=48,
        top=18,
        width=width - 56,
        height=height - 18 - bottom,
        low=min(0.0, *(v for _, v in data)),
        high=max(0.0, *(v for _, v in data)),
    )
    slot = frame.width / len(data)
    bar = max(1.0, slot * 0.7)
    body = _y_axis(frame, fmt)
    for i, (text, value) in enumerate(data):
        x = frame.left + i * slot + (slot - bar) / 2
        top, base = frame.y(max(value, 0.0)), frame.y(min(value, 0.0))
        tip = f"{text}: {fmt(value)}{unit}"
        body.append(
            f'<rect class="bar" x="{_n(x)}" y="{_n(top)}" width="{_n(bar)}" '
            f'height="{_n(base - top)}" fill="{ACCENT}" data-value="{value:g}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        cx = x + bar / 2
        body.append(
            f'<text x="{_n(cx)}" y="{_n(top - 4)}" text-anchor="middle" '
            f'fill="{INK}">{escape(fmt(value))}</text>'
        )
        ly = frame.top + frame.height + 14
        if rotate:
            body.append(
                f'<text x="{_n(cx)}" y="{_n(ly)}" text-anchor="end" '
                f'transform="rotate(-35 {_n(cx)} {_n(ly)})" fill="{INK}">{escape(text)}</text>'
            )
        else:
            body.append(
                f'<text x="{_n(cx)}" y="{_n(ly)}" text-anchor="middle" '
                f'fill="{INK}">{escape(text)}</text>'
            )
    return _svg(name, label, width, height, body)


def line_chart(
    name: str,
    data: Sequence[tuple[str, float]],
    *,
    label: str,
    fmt: Fmt = compact,
    width: int = 640,
    height: int = 240,
    area: bool = True,
    unit: str = "",
) -> str:
    """A line (filled below when ``area``) through ``(label, value)`` points, evenly spaced
    in the given order (months, say); a point per value carries its tooltip."""
    if not data:
        return no_data(name, label)
    frame = _Frame(
        left=52,
        top=14,
        width=width - 52 - 30,  # room for the last time label, centred on its point
        height=height - 14 - 28,
        low=min(0.0, *(v for _, v in data)),
        high=max(0.0, *(v for _, v in data)),
    )
    step = frame.width / (len(data) - 1) if len(data) > 1 else 0.0

    def x(i: int) -> float:
        return frame.left + (i * step if len(data) > 1 else frame.width / 2)

    points = [(x(i), frame.y(v)) for i, (_, v) in enumerate(data)]
    body = _y_axis(frame, fmt)
    path = " ".join(f"{_n(px)},{_n(py)}" for px, py in points)
    if area and len(points) > 1:
        base = _n(frame.y(max(frame.low, 0.0)))
        body.append(
            f'<polygon class="area" points="{_n(points[0][0])},{base} {path} '
            f'{_n(points[-1][0])},{base}" fill="{ACCENT}" fill-opacity="0.15"/>'
        )
    body.append(
        f'<polyline class="line" points="{path}" fill="none" stroke="{ACCENT}" stroke-width="2"/>'
    )
    every = max(1, math.ceil(len(data) / 12))  # at most a dozen labels on the time axis
    for i, ((text, value), (px, py)) in enumerate(zip(data, points, strict=True)):
        body.append(
            f'<circle class="point" cx="{_n(px)}" cy="{_n(py)}" r="3.5" fill="{ACCENT}" '
            f'data-value="{value:g}"><title>{escape(f"{text}: {fmt(value)}{unit}")}</title>'
            "</circle>"
        )
        if i % every == 0 or i == len(data) - 1:
            body.append(
                f'<text x="{_n(px)}" y="{_n(frame.top + frame.height + 16)}" '
                f'text-anchor="middle" fill="{MUTED}">{escape(text)}</text>'
            )
    return _svg(name, label, width, height, body)


def _mix(share: float) -> str:
    share = min(1.0, max(0.0, share))
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(LOW, HIGH, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(
    name: str,
    *,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float | None]],
    label: str,
    row_title: str = "",
    col_title: str = "",
    fmt: Fmt = compact,
    tooltips: Sequence[Sequence[str]] | None = None,
    cell_width: int = 64,
    cell_height: int = 36,
) -> str:
    """Cells coloured from pale (smallest) to dark (largest) with the value written in each;
    ``None`` leaves a cell blank. A legend below shows the colour scale."""
    if not rows or not cols or all(v is None for row in values for v in row):
        return no_data(name, label)
    filled = [v for row in values for v in row if v is not None]
    low, high = min(0.0, *filled), max(filled)
    left = 16 + max(len(r) for r in rows) * CHAR + (16 if row_title else 0)
    top = 22 + (16 if col_title else 0)
    width = left + cell_width * len(cols) + 12
    grid_h = cell_height * len(rows)
    height = top + grid_h + 54
    body: list[str] = []
    if col_title:
        body.append(
            f'<text x="{_n(left + cell_width * len(cols) / 2)}" y="14" text-anchor="middle" '
            f'fill="{MUTED}">{escape(col_title)}</text>'
        )
    if row_title:
        cy = top + grid_h / 2
        body.append(
            f'<text x="12" y="{_n(cy)}" text-anchor="middle" transform="rotate(-90 12 '
            f'{_n(cy)})" fill="{MUTED}">{escape(row_title)}</text>'
        )
    for j, col in enumerate(cols):
        body.append(
            f'<text x="{_n(left + (j + 0.5) * cell_width)}" y="{_n(top - 6)}" '
            f'text-anchor="middle" fill="{INK}">{escape(col)}</text>'
        )
    for i, row in enumerate(rows):
        y = top + i * cell_height
        body.append(
            f'<text x="{_n(left - 6)}" y="{_n(y + cell_height / 2 + 4)}" text-anchor="end" '
            f'fill="{INK}">{escape(row)}</text>'
        )
        for j, col in enumerate(cols):
            value = values[i][j]
            x = left + j * cell_width
            if value is None:
                body.append(
                    f'<rect x="{_n(x)}" y="{_n(y)}" width="{cell_width}" '
                    f'height="{cell_height}" fill="#fff" stroke="{LINE}"/>'
                )
                continue
            share = (value - low) / (high - low) if high > low else 1.0
            tip = tooltips[i][j] if tooltips is not None else f"{row}, {col}: {fmt(value)}"
            body.append(
                f'<rect class="cell" x="{_n(x)}" y="{_n(y)}" width="{cell_width}" '
                f'height="{cell_height}" fill="{_mix(share)}" stroke="#fff" '
                f'data-value="{value:g}"><title>{escape(tip)}</title></rect>'
                f'<text x="{_n(x + cell_width / 2)}" y="{_n(y + cell_height / 2 + 4)}" '
                f'text-anchor="middle" fill="{"#fff" if share > 0.55 else INK}">'
                f"{escape(fmt(value))}</text>"
            )
    legend_y = top + grid_h + 18
    steps = 5
    for k in range(steps):
        share = k / (steps - 1)
        body.append(
            f'<rect class="legend" x="{_n(left + k * 28)}" y="{_n(legend_y)}" width="28" '
            f'height="10" fill="{_mix(share)}"><title>'
            f"{escape(fmt(low + share * (high - low)))}</title></rect>"
        )
    body.append(
        f'<text x="{_n(left)}" y="{_n(legend_y + 24)}" fill="{MUTED}">{escape(fmt(low))}</text>'
        f'<text x="{_n(left + steps * 28)}" y="{_n(legend_y + 24)}" text-anchor="end" '
        f'fill="{MUTED}">{escape(fmt(high))}</text>'
    )
    return _svg(name, label, width, height, body)


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with its (95%) interval, one row of an interval chart."""

    label: str
    estimate: float
    low: float
    high: float


def interval_chart(
    name: str,
    items: Sequence[Interval],
    *,
    label: str,
    fmt: Fmt = percent,
    width: int = 640,
    row_height: int = 28,
    interval_name: str = "95% interval",
    empty: str = "no data",
) -> str:
    """Horizontal whiskers: the estimate as a dot, its interval as a line with caps, and a
    zero line. A whisker wholly right of zero is drawn green, wholly left red."""
    if not items:
        return no_data(name, label, empty)
    left = 16 + max(len(i.label) for i in items) * CHAR
    right = 32  # room for the last tick's label, centred on its line
    lo = min(0.0, *(i.low for i in items))
    hi = max(0.0, *(i.high for i in items))
    pad = (hi - lo) * 0.05 or 0.01
    lo, hi = lo - pad, hi + pad
    plot_w = width - left - right
    top = 10
    height = top + row_height * len(items) + 30

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * plot_w

    body: list[str] = []
    bottom = top + row_height * len(items)
    for tick in nice_ticks(lo, hi):
        tx = _n(x(tick))
        body.append(
            f'<line x1="{tx}" x2="{tx}" y1="{top}" y2="{bottom}" stroke="{LINE}"/>'
            f'<text x="{tx}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}">'
            f"{escape(fmt(tick))}</text>"
        )
    zero = _n(x(0.0))
    body.append(
        f'<line class="zero" x1="{zero}" x2="{zero}" y1="{top}" y2="{bottom}" '
        f'stroke="{INK}" stroke-width="1.5"/>'
    )
    for k, item in enumerate(items):
        cy = top + (k + 0.5) * row_height
        colour = OK if item.low > 0 else BAD if item.high < 0 else ACCENT
        x0, x1 = _n(x(item.low)), _n(x(item.high))
        tip = (
            f"{item.label}: {fmt(item.estimate)} "
            f"({interval_name} {fmt(item.low)} to {fmt(item.high)})"
        )
        body.append(
            f'<text x="{_n(left - 8)}" y="{_n(cy + 4)}" text-anchor="end" fill="{INK}">'
            f"{escape(item.label)}</text>"
            f'<g class="interval" data-estimate="{item.estimate:g}" data-low="{item.low:g}" '
            f'data-high="{item.high:g}"><title>{escape(tip)}</title>'
            f'<line x1="{x0}" x2="{x1}" y1="{_n(cy)}" y2="{_n(cy)}" stroke="{colour}" '
            f'stroke-width="2"/>'
            f'<line x1="{x0}" x2="{x0}" y1="{_n(cy - 6)}" y2="{_n(cy + 6)}" stroke="{colour}"/>'
            f'<line x1="{x1}" x2="{x1}" y1="{_n(cy - 6)}" y2="{_n(cy + 6)}" stroke="{colour}"/>'
            f'<circle cx="{_n(x(item.estimate))}" cy="{_n(cy)}" r="4" fill="{colour}"/></g>'
        )
    return _svg(name, label, width, height, body)


__all__ = [
    "Interval",
    "bar_chart",
    "compact",
    "heat_map",
    "interval_chart",
    "line_chart",
    "nice_ticks",
    "no_data",
    "percent",
]
