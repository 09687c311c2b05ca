"""Chart geometry for the forecast pages: plain data in, SVG coordinates out.

Pure (no Flask, no database) so the arithmetic is tested on its own; the template
only places the computed numbers, and Jinja escapes every name and label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#999933", "#000000")
LEGEND_ROW = 18.0
MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)
DAY_S = 86_400.0

Point = tuple[datetime, float | None]


@dataclass(frozen=True)
class ForecastPoint:
    time: datetime
    value: float | None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class SeriesData:
    """One target: observed history and forecast (the forecast may start at the last observation)."""

    name: str
    history: Sequence[Point]
    forecast: Sequence[ForecastPoint] = ()


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class SeriesShape:
    """A series in SVG coordinates: ``points`` attributes of two polylines and the band polygon."""

    name: str
    colour: str
    history: str
    forecast: str
    band: str
    legend_y: float


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[SeriesShape]
    forecast_start: float | None  # x of the latest observation, where the forecasts begin

    @property
    def view_box(self) -> str:
        return f"0 0 {_num(self.width)} {_num(self.height)}"


def build_chart(series: Sequence[SeriesData], width: float = 900, height: float = 420) -> Chart:
    """Lay out every series on shared axes; missing values (None, NaN, inf) are left out."""
    top = 24 + LEGEND_ROW * len(series)
    left, right, bottom = 56.0, width - 16.0, top + height
    times, values = _extent(series)
    t0, t1 = _padded(min(times, default=0.0), max(times, default=0.0), DAY_S)
    y_ticks = _value_ticks(min(values, default=0.0), max(values, default=1.0))
    v0, v1 = y_ticks[0], y_ticks[-1]

    def x(t: datetime | float) -> float:
        seconds = t if isinstance(t, float) else _seconds(t)
        return round(left + (seconds - t0) / (t1 - t0) * (right - left), 1)

    def y(v: float) -> float:
        return round(bottom - (v - v0) / (v1 - v0) * (bottom - top), 1)

    def points(pairs: Sequence[tuple[datetime, float | None]]) -> str:
        return " ".join(f"{_num(x(t))},{_num(y(v))}" for t, v in pairs if _finite(v))

    shapes = []
    for i, item in enumerate(series):
        banded = [p for p in item.forecast if _finite(p.lower) and _finite(p.upper)]
        if len(banded) < 2:  # one point has no area: nothing to shade
            banded = []
        shapes.append(
            SeriesShape(
                name=item.name,
                colour=PALETTE[i % len(PALETTE)],
                history=points(item.history),
                forecast=points([(p.time, p.value) for p in item.forecast]),
                band=points([(p.time, p.upper) for p in banded] + [(p.time, p.lower) for p in banded[::-1]]),
                legend_y=16 + LEGEND_ROW * i,
            )
        )
    observed = [t for item in series for t, v in item.history if _finite(v)]
    return Chart(
        width=width,
        height=bottom + 28,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        x_ticks=[
            Tick(left + (t - t0) / (t1 - t0) * (right - left), label) for t, label in _time_ticks(t0, t1)
        ],
        y_ticks=[Tick(y(v), f"{v:g}") for v in y_ticks],
        series=shapes,
        forecast_start=x(max(observed)) if observed and any(s.forecast for s in series) else None,
    )


def _seconds(t: datetime) -> float:
    """Seconds since the epoch, reading naive times (the store's) as UTC."""
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _num(value: float) -> str:
    return f"{value:.1f}"


def _extent(series: Sequence[SeriesData]) -> tuple[list[float], list[float]]:
    """Timestamps and values of every drawn point, history, forecast and interval."""
    times, values = [], []
    for item in series:
        for t, v in item.history:
            if _finite(v):
                times.append(_seconds(t))
                values.append(v)
        for p in item.forecast:
            drawn = [v for v in (p.value, p.lower, p.upper) if _finite(v)]
            if drawn:
                times.append(_seconds(p.time))
                values.extend(drawn)
    return times, values


def _padded(low: float, high: float, pad: float) -> tuple[float, float]:
    """A non-empty range: one point is given ``pad`` either side, so nothing divides by zero."""
    return (low - pad, high + pad) if high <= low else (low, high)


def _value_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) that enclose ``[low, high]``."""
    low, high = _padded(low, high, max(abs(low) * 0.1, 1.0))
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _time_ticks(t0: float, t1: float, most: int = 7) -> list[tuple[float, str]]:
    """Month starts inside ``[t0, t1]``, every 1, 2, 3, 6, ... months so at most ``most`` show."""
    start, end = datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(t1, UTC)
    step = next((s for s in MONTH_STEPS if (t1 - t0) / (30.44 * DAY_S) / s < most), MONTH_STEPS[-1])
    first = start.year * 12 + start.month - 1 + (start != _month_start(start))
    ticks = []
    for index in range(first, end.year * 12 + end.month):
        if index % step == 0:
            tick = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
            ticks.append((tick.timestamp(), tick.strftime("%b %Y")))
    middle = datetime.fromtimestamp((t0 + t1) / 2, UTC)
    return ticks or [(middle.timestamp(), middle.strftime("%d %b %Y"))]


def _month_start(t: datetime) -> datetime:
    return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
