"""What every data source provides, and the one check every download passes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from forecasting.errors import InvalidInput, SourceError, shown


@dataclass(frozen=True)
class SeriesSpec:
    """A series as a source sees it: its name and its validated parameters."""

    name: str
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None


class DataSource(Protocol):
    """A source turns a series definition into its complete periods.

    ``download`` returns a frame with columns ``time`` (timezone-naive period start)
    and ``value`` (float), or raises :class:`SourceError` naming the series. A source
    ``fed_by_uploads`` has nothing to download: its series' values are sent to the
    service (:mod:`forecasting.sources.upload`), and a refresh leaves them as they are.
    """

    name: ClassVar[str]
    synthetic: ClassVar[bool]
    fed_by_uploads: ClassVar[bool]

    def validate_params(self, series: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise the params given when a series is defined; raise InvalidInput.

        The one check of a definition, whichever way it comes (``series add``, ``apply``,
        ``POST /api/timeseries``): bad params fail there, not at the first refresh.
        """
        ...

    def download(self, series: SeriesSpec) -> pd.DataFrame: ...


def clean_download(series: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a download: non-empty, naive unique times, finite values, sorted.

    This is the single definition of a well-formed download ``D`` (DESIGN.md, refresh
    rule 1); anything else is an error for that series and nothing is written for it.
    """
    if frame is None or len(frame) == 0:
        raise SourceError(series, "the download is empty")
    if not {"time", "value"} <= set(frame.columns):
        raise SourceError(series, "the download has no time/value columns")
    times = pd.to_datetime(frame["time"], errors="coerce")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert(None)
    values = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    if times.isna().any():
        raise SourceError(series, "the download has rows without a valid time")
    if not np.isfinite(values.to_numpy()).all():
        raise SourceError(series, "the download has missing or non-numeric values")
    if times.duplicated().any():
        duplicate = times[times.duplicated()].iloc[0]
        raise SourceError(series, f"the download has the time {duplicate} twice")
    clean = pd.DataFrame({"time": times.astype("datetime64[us]").to_numpy(), "value": values.to_numpy()})
    return clean.sort_values("time", ignore_index=True)


def granularity(times: pd.Series) -> str | None:
    """How far apart the period starts of a download are, read from the times alone.

    ``weekly`` (every step a whole number of weeks, a missing week allowed), ``daily``,
    ``monthly`` (month starts), ``hourly`` or ``every N minutes``; ``irregular`` for
    anything else, and None for fewer than two distinct times, which have no spacing.
    """
    unique = pd.DatetimeIndex(pd.to_datetime(times)).unique().sort_values()
    if len(unique) < 2:
        return None
    steps = np.diff(unique.to_numpy()).astype("timedelta64[s]").astype("int64")
    step = int(steps.min())
    day = 86_400
    if step == 7 * day and (steps % (7 * day) == 0).all():
        return "weekly"
    if step == day and (steps % day == 0).all():
        return "daily"
    month_starts = (unique.day == 1) & (unique == unique.normalize())
    if step >= 28 * day and month_starts.all():
        return "monthly"
    if 0 < step < day and step % 60 == 0 and (steps % step == 0).all():
        return "hourly" if step == 3_600 else f"every {step // 60} minutes"
    return "irregular"


def to_int(raw: Any, what: str, minimum: int, maximum: int | None = None) -> int:
    """An integer given as text or number, within bounds; ``what`` names it in errors.

    Fractions and booleans are refused rather than truncated.
    """
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"{what}={shown(raw)} is not an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"within [{minimum}, {maximum}]"
        raise InvalidInput(f"{what} must be {bounds}, got {value}")
    return value
