"""The data a model learns from: every series of its data config, current versions.

One SELECT reads all series of a data config with their current version's values
and version ids (outer joins, so a series without data is reported, not silently
dropped). The seed issued one query per series and took ``.last()`` of an unordered
queryset; here the current version is the one rule of :func:`models.is_current`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from forecasting.errors import InvalidInput, NotFound
from forecasting.models import DataConfigSeries, TimeSeries, TSValue, TSVersion, is_current


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
    no data version (``None`` in the result's ``data_versions``).
    """
    missing = {"series", "time", "value"} - set(history.columns)
    if missing:
        raise InvalidInput(
            f"history needs columns series, time, value; missing: {', '.join(sorted(missing))}"
        )
    known = set(base.targets) | set(base.features)
    unknown = sorted(set(history["series"]) - known)
    if unknown:
        raise InvalidInput(f"history names series outside the model's data config: {', '.join(unknown)}")
    try:
        times = pd.to_datetime(history["time"]).astype("datetime64[us]")
        values = pd.to_numeric(history["value"]).astype(float)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"history has a bad time or value: {exc}") from None
    if not np.isfinite(values.to_numpy()).all():
        raise InvalidInput("history values must be finite numbers")
    supplied = pd.DataFrame({"series": history["series"].astype(str), "time": times, "value": values})
    if supplied.duplicated(["series", "time"]).any():
        raise InvalidInput("history has the same series and time twice")
    replaced = set(supplied["series"])
    kept = base.frame[~base.frame["series"].isin(replaced)]
    versions = {name: (None if name in replaced else v) for name, v in base.data_versions.items()}
    return Dataset(pd.concat([kept, supplied], ignore_index=True), base.targets, base.features, versions)
