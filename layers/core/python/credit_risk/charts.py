"""Small, dependency-free SVG charts: line charts, bar charts and histograms.

Each function returns one self-contained ``<svg>`` string to inline in an HTML page (the
model card, the monitoring dashboard). No JavaScript, no fonts or styles from elsewhere.
Every piece of text is escaped. Drawn elements carry classes so that pages can style
them and tests can count them: ``polyline.series``, ``circle.point``, ``rect.bar``,
``line.diagonal``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

PALETTE = ("#1f5fa8", "#c0392b", "#2e8b57", "#d68910", "#7d3c98", "#5d6d7e")
"""Series colours, in order (blue, red, green, amber, purple, grey)."""

_FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"
_CHAR_WIDTH = 6.5  # average width of an 11px character, for laying out labels
_MARGIN_TOP = 34
_MARGIN_RIGHT = 18
_MARGIN_BOTTOM = 46
_MARGIN_LEFT = 58

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]


@dataclass(frozen=True)
class Series:
    """One line on a line chart."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    color: str | None = None
    dashed: bool = False
    markers: bool = False


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def escape_text(value: object) -> str:
    """``value`` as HTML-escaped text (quotes too); None is empty."""
    return escape("" if value is None else str(value), quote=True)


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None for anything else (bools, NaN, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _num(value: float) -> str:
    """A coordinate: short, and never in exponent form."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _finite(value: object) -> bool:
    return isinstance(value, numbers.Real) and math.isfinite(value)


def tick_label(value: float) -> str:
    """A tick value as people write it: 0.25, 600, 1.5k, 2M."""
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if magnitude >= 10_000:
        return f"{value / 1000:g}k"
    if magnitude >= 1 or value == 0:
        return f"{value:,.10g}"
    return f"{value:.4g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _padded_range(values: Sequence[float], *, include_zero: bool = False) -> tuple[float, float]:
    finite = [v for v in values if _finite(v)]
    if include_zero:
        finite.append(0.0)
    if not finite:
        return (0.0, 1.0)
    low, high = min(finite), max(finite)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return (low - pad, high + pad)
    if include_zero:
        return (low, high)
    pad = (high - low) * 0.04
    return (low - pad, high + pad)


class _Canvas:
    """An SVG drawing with a plot area and linear scales."""

    def __init__(
        self,
        width: int,
        height: int,
        title: str,
        *,
        left: float = _MARGIN_LEFT,
        bottom: float = _MARGIN_BOTTOM,
    ):
        self.width, self.height, self.title = width, height, title
        self.left, self.top = left, _MARGIN_TOP
        self.right = width - _MARGIN_RIGHT
        self.bottom = height - bottom
        self.parts: list[str] = []
        self.x_range = (0.0, 1.0)
        self.y_range = (0.0, 1.0)

    def sx(self, x: float) -> float:
        low, high = self.x_range
        return self.left + (x - low) / (high - low) * (self.right - self.left)

    def sy(self, y: float) -> float:
        low, high = self.y_range
        return self.bottom - (y - low) / (high - low) * (self.bottom - self.top)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(
        self, x: float, y: float, content: str, *, anchor: str = "middle", extra: str = ""
    ) -> None:
        self.add(
            f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" {extra}>{_e(content)}</text>'
        )

    def frame(self) -> None:
        self.add(
            f'<rect class="plot-area" x="{_num(self.left)}" y="{_num(self.top)}" '
            f'width="{_num(self.right - self.left)}" height="{_num(self.bottom - self.top)}" '
            'fill="none" stroke="#bbb"/>'
        )

    def x_axis(
        self,
        label: str,
        ticks: Sequence[float] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        low, high = self.x_range
        values = list(ticks) if ticks is not None else nice_ticks(low, high)
        for i, t in enumerate(values):
            if low - 1e-12 <= t <= high + 1e-12:
                x = self.sx(t)
                self.add(
                    f'<line x1="{_num(x)}" y1="{_num(self.bottom)}" x2="{_num(x)}" '
                    f'y2="{_num(self.bottom + 4)}" stroke="#888"/>'
                )
                shown = names[i] if names is not None else tick_label(t)
                self.text(x, self.bottom + 16, shown, extra='class="tick"')
        if label:
            self.text(
                (self.left + self.right) / 2, self.height - 8, label, extra='class="axis-label"'
            )

    def y_axis(self, label: str, *, grid: bool = True) -> None:
        low, high = self.y_range
        for t in nice_ticks(low, high):
            y = self.sy(t)
            if grid:
                self.add(
                    f'<line class="grid" x1="{_num(self.left)}" y1="{_num(y)}" '
                    f'x2="{_num(self.right)}" y2="{_num(y)}" stroke="#eee"/>'
                )
            self.text(self.left - 6, y + 4, tick_label(t), anchor="end", extra='class="tick"')
        if label:
            cx, cy = 14, (self.top + self.bottom) / 2
            rotate = f'class="axis-label" transform="rotate(-90 {_num(cx)} {_num(cy)})"'
            self.text(cx, cy, label, extra=rotate)

    def legend(self, entries: Sequence[tuple[str, str, bool]], corner: Corner) -> None:
        """Entries of (name, colour, dashed), stacked in one corner of the plot."""
        box = 24 + max(len(name) for name, _, _ in entries) * _CHAR_WIDTH
        x = self.left + 10 if corner.endswith("left") else self.right - 10 - box
        first = (
            self.top + 14 if corner.startswith("top") else self.bottom - 6 - 16 * (len(entries) - 1)
        )
        for i, (name, color, dashed) in enumerate(entries):
            y = first + i * 16
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            self.add(
                f'<line class="legend-key" x1="{_num(x)}" y1="{_num(y - 4)}" x2="{_num(x + 18)}" '
                f'y2="{_num(y - 4)}" stroke="{_e(color)}" stroke-width="3"{dash}/>'
            )
            self.text(x + 24, y, name, anchor="start", extra='class="legend"')

    def render(self) -> str:
        title = _e(self.title)
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" aria-label="{title}" '
            f'style="{_FONT};font-size:11px">'
            f"<title>{title}</title>"
        )
        heading = (
            f'<text class="chart-title" x="{_num(self.left)}" y="20" '
            f'style="font-size:13px;font-weight:600">{title}</text>'
        )
        return head + heading + "".join(self.parts) + "</svg>"


def _empty(width: int, height: int, title: str) -> str:
    canvas = _Canvas(width, height, title)
    canvas.frame()
    canvas.text(width / 2, height / 2, "no data", extra='class="no-data" fill="#888"')
    return canvas.render()


def line_chart(
    series: Sequence[Series],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = 480,
    height: int = 320,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
    legend: Corner = "top-left",
    x_ticks: Sequence[tuple[float, str]] | None = None,
) -> str:
    """Lines through (x, y) points; ``diagonal`` adds the dashed y = x reference line.

    Points whose x or y is missing or infinite are left out. ``x_ticks`` replaces the
    numeric x ticks with named ones, as ``(x, name)`` pairs (months, grades).
    """
    cleaned = []
    for s in series:
        if len(s.x) != len(s.y):
            raise ValueError(f"series '{s.name}' has {len(s.x)} x values and {len(s.y)} y values")
        pairs = zip(s.x, s.y, strict=True)
        points = [(float(x), float(y)) for x, y in pairs if _finite(x) and _finite(y)]
        cleaned.append((s, points))
    if not any(points for _, points in cleaned):
        return _empty(width, height, title)
    canvas = _Canvas(width, height, title)
    xs = [x for _, pts in cleaned for x, _ in pts]
    ys = [y for _, pts in cleaned for _, y in pts]
    canvas.x_range = x_range or _padded_range(xs)
    canvas.y_range = y_range or _padded_range(ys)
    canvas.y_axis(y_label)
    canvas.frame()
    if x_ticks is not None:
        canvas.x_axis(x_label, [x for x, _ in x_ticks], [name for _, name in x_ticks])
    else:
        canvas.x_axis(x_label)
    if diagonal:
        low = max(canvas.x_range[0], canvas.y_range[0])
        high = min(canvas.x_range[1], canvas.y_range[1])
        canvas.add(
            f'<line class="diagonal" x1="{_num(canvas.sx(low))}" y1="{_num(canvas.sy(low))}" '
            f'x2="{_num(canvas.sx(high))}" y2="{_num(canvas.sy(high))}" stroke="#999" '
            'stroke-dasharray="4 4"/>'
        )
    entries = []
    for i, (s, points) in enumerate(cleaned):
        color = s.color or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        coords = " ".join(f"{_num(canvas.sx(x))},{_num(canvas.sy(y))}" for x, y in points)
        canvas.add(
            f'<polyline class="series" data-series="{_e(s.name)}" points="{coords}" '
            f'fill="none" stroke="{_e(color)}" stroke-width="2"{dash}/>'
        )
        if s.markers:
            for x, y in points:
                canvas.add(
                    f'<circle class="point" cx="{_num(canvas.sx(x))}" cy="{_num(canvas.sy(y))}" '
                    f'r="3.5" fill="{_e(color)}"><title>{_e(s.name)}: '
                    f"({tick_label(x)}, {tick_label(y)})</title></circle>"
                )
        entries.append((s.name, color, s.dashed))
    if len(entries) > 1 or entries[0][0]:
        canvas.legend(entries, legend)
    return canvas.render()


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str = "",
    value_label: str = "",
    horizontal: bool = True,
    width: int = 480,
    height: int | None = None,
    color: str = PALETTE[0],
    value_format: str = "{:.3g}",
    colors: Sequence[str] | None = None,
) -> str:
    """One bar per label. Horizontal bars (the default) suit long labels such as features.

    Missing or infinite values draw as zero-length bars. ``colors``, when given, colours
    each bar (one per label) instead of ``color``.
    """
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")
    if colors is not None and len(colors) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(colors)} colours")
    fills = list(colors) if colors is not None else [color] * len(labels)
    if not labels:
        return _empty(width, height or 160, title)
    numbers = [float(v) if _finite(v) else 0.0 for v in values]
    low, high = _padded_range(numbers, include_zero=True)
    if horizontal:
        longest = max(len(str(label)) for label in labels)
        left = min(max(_MARGIN_LEFT, longest * _CHAR_WIDTH + 14), width * 0.5)
        height = height or int(_MARGIN_TOP + 20 * len(labels) + _MARGIN_BOTTOM)
        canvas = _Canvas(width, height, title, left=left)
        band = (canvas.bottom - canvas.top) / len(labels)
        canvas.x_range = (low, high + (high - low) * 0.12)  # room for the value labels
        canvas.frame()
        canvas.x_axis(value_label)
        for i, (label, value) in enumerate(zip(labels, numbers, strict=True)):
            y = canvas.top + i * band + band * 0.15
            x0, x1 = sorted((canvas.sx(0.0), canvas.sx(value)))
            canvas.add(
                f'<rect class="bar" x="{_num(x0)}" y="{_num(y)}" width="{_num(x1 - x0)}" '
                f'height="{_num(band * 0.7)}" fill="{_e(fills[i])}"><title>{_e(label)}: '
                f"{_e(value_format.format(value))}</title></rect>"
            )
            canvas.text(
                left - 6, y + band * 0.35 + 4, str(label), anchor="end", extra='class="label"'
            )
            shown = value_format.format(value)
            canvas.text(
                x1 + 4,
                y + band * 0.35 + 4,
                shown,
                anchor="start",
                extra='class="value" fill="#555"',
            )
        return canvas.render()
    canvas = _Canvas(width, height or 320, title)
    canvas.y_range = (low, high)
    canvas.x_range = (0.0, float(len(labels)))
    canvas.y_axis(value_label)
    canvas.frame()
    step = (canvas.right - canvas.left) / len(labels)
    for i, (label, value) in enumerate(zip(labels, numbers, strict=True)):
        y0, y1 = sorted((canvas.sy(0.0), canvas.sy(value)))
        x = canvas.left + i * step + step * 0.15
        canvas.add(
            f'<rect class="bar" x="{_num(x)}" y="{_num(y0)}" width="{_num(step * 0.7)}" '
            f'height="{_num(y1 - y0)}" fill="{_e(fills[i])}"><title>{_e(label)}: '
            f"{_e(value_format.format(value))}</title></rect>"
        )
        canvas.text(x + step * 0.35, canvas.bottom + 16, str(label), extra='class="label"')
    return canvas.render()


def _finite_edges(edges: Sequence[float]) -> list[float]:
    """Edges with an infinite first or last edge replaced by one typical bin width."""
    out = [float(e) for e in edges]
    widths = [b - a for a, b in zip(out, out[1:], strict=False) if _finite(a) and _finite(b)]
    width = sorted(widths)[len(widths) // 2] if widths else 1.0
    if not _finite(out[0]) and len(out) > 1 and _finite(out[1]):
        out[0] = out[1] - width
    if not _finite(out[-1]) and len(out) > 1 and _finite(out[-2]):
        out[-1] = out[-2] + width
    if not all(_finite(e) for e in out):
        raise ValueError("histogram edges must be finite apart from the first and last")
    return out


def histogram(
    edges: Sequence[float],
    counts: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    normalise: bool = False,
    width: int = 480,
    height: int = 320,
    colors: Sequence[str] | None = None,
    legend: Corner = "top-right",
) -> str:
    """Binned counts of one or more groups, drawn side by side within each bin.

    ``edges`` has one more entry than each group's counts. With ``normalise`` each group
    is shown as shares of its own total, so groups of very different sizes compare.
    """
    if len(edges) < 2 or not counts:
        return _empty(width, height, title)
    bins = len(edges) - 1
    for name, values in counts.items():
        if len(values) != bins:
            raise ValueError(f"group '{name}' has {len(values)} counts for {bins} bins")
    xs = _finite_edges(edges)
    groups = []
    for name, values in counts.items():
        numbers = [float(v) if _finite(v) else 0.0 for v in values]
        total = sum(numbers)
        if normalise:
            numbers = [v / total if total else 0.0 for v in numbers]
        groups.append((name, numbers))
    canvas = _Canvas(width, height, title)
    canvas.x_range = (xs[0], xs[-1])
    tallest = max((v for _, numbers in groups for v in numbers), default=0.0)
    canvas.y_range = (0.0, tallest * 1.08 if tallest > 0 else 1.0)
    canvas.y_axis(y_label or ("share of group" if normalise else "count"))
    canvas.frame()
    canvas.x_axis(x_label)
    palette = list(colors) if colors else list(PALETTE)
    entries = []
    for g, (name, numbers) in enumerate(groups):
        color = palette[g % len(palette)]
        entries.append((name, color, False))
        for i, value in enumerate(numbers):
            left, right = canvas.sx(xs[i]), canvas.sx(xs[i + 1])
            slot = (right - left) / len(groups)
            x = left + slot * g + slot * 0.08
            y = canvas.sy(value)
            shown = f"{value:.1%}" if normalise else tick_label(value)
            canvas.add(
                f'<rect class="bar" data-series="{_e(name)}" x="{_num(x)}" y="{_num(y)}" '
                f'width="{_num(max(slot * 0.84, 0.5))}" height="{_num(canvas.bottom - y)}" '
                f'fill="{_e(color)}" fill-opacity="0.85"><title>{_e(name)} '
                f"[{tick_label(xs[i])}, {tick_label(xs[i + 1])}): {_e(shown)}</title></rect>"
            )
    canvas.legend(entries, legend)
    return canvas.render()


def roc_chart(
    label: str, fpr: Sequence[float], tpr: Sequence[float], *, width: int, height: int
) -> str:
    """A ROC curve on the unit square with the random-ranking diagonal."""
    return line_chart(
        [Series(label, fpr, tpr)],
        title="ROC curve",
        x_label="false positive rate (payers flagged)",
        y_label="true positive rate (defaults caught)",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        diagonal=True,
        legend="bottom-right",
        width=width,
        height=height,
    )


def calibration_chart(series: Sequence[Series], *, width: int, height: int) -> str:
    """Observed default rate against mean predicted PD per bin, on a square scaled to the
    data, with the diagonal a calibrated model follows."""
    values = [v for s in series for v in (finite_number(x) for x in [*s.x, *s.y]) if v is not None]
    top = min(1.0, max(max(values, default=1.0) * 1.08, 0.01))
    return line_chart(
        series,
        title="Calibration: predicted vs observed",
        x_label="mean predicted PD in bin",
        y_label="observed default rate",
        x_range=(0.0, top),
        y_range=(0.0, top),
        diagonal=True,
        legend="top-left",
        width=width,
        height=height,
    )
