"""The data a model learns from: every series of its data config, current versions.

One SELECT reads all series of a data config with their current version's values
and version ids (outer joins, so a series without data is reported, not silently
dropped). The seed issued one query per series and took ``.last()`` of an unordered
queryset; here the current version is the one rule of :func:`models.is_current`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from forecasting.errors import InvalidInput, NotFound, listed, shown
from forecasting.models import DataConfigSeries, TimeSeries, TSValue, TSVersion, is_current
from forecasting.sources.base import granularity

EARLIEST, LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-12-31")  # of supplied history


@dataclass(frozen=True)
class Dataset:
    """Long ``series, time, value`` frame plus roles and the data version of each series."""

    frame: pd.DataFrame
    targets: tuple[str, ...]
    features: tuple[str, ...]
    data_versions: dict[str, int | None]

    def until(self, cutoff: pd.Timestamp) -> Dataset:
        """The same data as it was known at ``cutoff`` (rows after it removed)."""
        return Dataset(
            self.frame[self.frame["time"] <= cutoff], self.targets, self.features, self.data_versions
        )


def load_dataset(conn: Connection, data_config_id: int) -> Dataset:
    """All series of the data config, their current versions, in one SELECT."""
    rows = conn.execute(
        select(
            TimeSeries.name.label("series"),
            DataConfigSeries.role,
            TSVersion.id.label("version_id"),
            TSValue.time,
            TSValue.value,
        )
        .select_from(DataConfigSeries)
        .join(TimeSeries, TimeSeries.id == DataConfigSeries.timeseries_id)
        .outerjoin(TSVersion, (TSVersion.timeseries_id == TimeSeries.id) & is_current())
        .outerjoin(TSValue, TSValue.version_id == TSVersion.id)
        .where(DataConfigSeries.data_config_id == data_config_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["series", "role", "version_id", "time", "value"])
    if frame.empty:
        raise NotFound(f"data config {data_config_id} has no series")
    empty = sorted(frame.loc[frame["time"].isna(), "series"].unique())
    if empty:
        raise NotFound(
            f"series without data: {', '.join(empty)}; run `forecasting refresh {' '.join(empty)}`"
        )
    roles = frame.drop_duplicates("series").set_index("series")
    frame["time"] = pd.to_datetime(frame["time"]).astype("datetime64[us]")
    return Dataset(
        frame=frame[["series", "time", "value"]].astype({"value": float}),
        targets=tuple(sorted(roles.index[roles["role"] == "target"])),
        features=tuple(sorted(roles.index[roles["role"] == "feature"])),
        data_versions={name: int(v) for name, v in roles["version_id"].items()},
    )


def supplied_dataset(base: Dataset, history: pd.DataFrame) -> Dataset:
    """``base`` with the series in ``history`` (``series, time, value``) replaced by it.

    What-if inference: a caller supplies recent history for some or all series of the
    data config; the others keep their stored current values. Supplied series have
    no data version (``None`` in the result's ``data_versions``). The history must be
    what the model was trained on: weekly values on the weeks of its data (same weekday
    and time of day), dated from 1900 to 2200, finite.
    """
    missing = {"series", "time", "value"} - set(history.columns)
    if missing:
        raise InvalidInput(
            f"history needs columns series, time, value; missing: {', '.join(sorted(missing))}"
        )
    known = set(base.targets) | set(base.features)
    unknown = sorted(set(history["series"]) - known)
    if unknown:
        raise InvalidInput(f"history names series outside the model's data config: {listed(unknown)}")
    supplied = pd.DataFrame(
        {
            "series": history["series"].astype(str),
            "time": _history_times(history["time"]),
            "value": _history_values(history["value"]),
        }
    )
    if supplied.duplicated(["series", "time"]).any():
        raise InvalidInput("history has the same series and time twice")
    _check_weeks(supplied, base.frame["time"].iloc[0])
    replaced = set(supplied["series"])
    kept = base.frame[~base.frame["series"].isin(replaced)]
    versions = {name: (None if name in replaced else v) for name, v in base.data_versions.items()}
    return Dataset(pd.concat([kept, supplied], ignore_index=True), base.targets, base.features, versions)


def _history_times(raw: pd.Series) -> pd.Series:
    """Supplied times as naive timestamps; anything but a date text (or date) from 1900 to 2200 is refused."""
    bad = "history has a bad time or value: time"
    for value in raw:
        if not isinstance(value, str | date):
            raise InvalidInput(f"{bad} {shown(value)} is not a date text such as 2026-11-15")
    try:
        times = pd.to_datetime(raw.astype(object), errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):  # pandas refuses to mix timezones
        times = None
    if times is None or getattr(times.dt, "tz", None) is not None:
        raise InvalidInput(f"{bad}s must be dates without a timezone, such as 2026-11-15 (the model's weeks)")
    outside = times.isna() | (times < EARLIEST) | (times > LATEST)
    if outside.any():
        raise InvalidInput(
            f"{bad} {shown(raw[outside].iloc[0])} is not a date from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"
        )
    return times.astype("datetime64[us]")


def _history_values(raw: pd.Series) -> pd.Series:
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    wrong = ~np.isfinite(values.to_numpy())
    if wrong.any():
        first = raw[wrong].iloc[0]
        raise InvalidInput(f"history has a bad time or value: value {shown(first)} is not a finite number")
    return values


def _check_weeks(supplied: pd.DataFrame, anchor: pd.Timestamp) -> None:
    """Each supplied series is weekly, on the weeks of the model's data (``anchor`` is one of them)."""
    week = pd.Timedelta(weeks=1)
    for name, rows in supplied.groupby("series"):
        spacing = granularity(rows["time"])
        if spacing not in (None, "weekly"):
            raise InvalidInput(
                f"history for series {shown(name)} is {spacing}; the model forecasts weekly values: "
                "give one value per week"
            )
        off = rows["time"][(rows["time"] - anchor) % week != pd.Timedelta(0)]
        if len(off):
            raise InvalidInput(
                f"history for series {shown(name)} has {off.iloc[0]}, which does not start a week of the "
                f"model's data: its weeks start on {anchor:%A}s at {anchor:%H:%M}"
            )
