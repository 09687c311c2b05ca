"""Lag features over the whole panel, the seed's preprocessing vectorised (DESIGN.md, Features).

A row is one target series ``s`` at one week ``t`` (its forecast origin) and one
horizon ``h``:

- ``target_lag_k`` = value of ``s`` at ``t - k`` (stacked: same column for every target;
  ``k = 0``, the origin's own value, only with the ``include_lag_0`` extra);
- ``{feature}_lag_k`` = value of the feature series at ``t - k``, aligned on time;
- ``horizon`` = ``h`` (one model serves every horizon);
- ``y`` = value of ``s`` at ``t + h``.

Lags read only weeks up to the origin and ``y`` only the week ``h`` after it, so no
feature sees the future of its row. Training drops rows with any missing lag or
``y``; inference takes, for *every* target, the row at its latest week.

Everything works on wide (time × series) arrays: "observed" masks are shifted along
time to find the complete rows, then each lag column is gathered for those rows
only. The only Python loops run over lags and horizons, never over series or rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.configs import PreprocessingParams
from forecasting.dataset import Dataset
from forecasting.errors import InvalidInput

Step = pd.Timedelta | pd.offsets.BaseOffset
SAMPLING_SEED = 20240607


@dataclass(frozen=True)
class Panel:
    """Series on one regular time grid: ``targets`` and ``features`` are (time × series)."""

    grid: pd.DatetimeIndex
    step: Step
    target_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    targets: np.ndarray
    features: np.ndarray


def time_grid(times: pd.DatetimeIndex, series: np.ndarray) -> tuple[pd.DatetimeIndex, Step]:
    """The regular grid spanning ``times`` and its step (a fixed interval, or month starts).

    ``series`` holds integer series codes aligned with ``times``. The step is the
    smallest gap *within* a series; every time must then sit on the grid it spans, so
    weekly series on different weekdays are refused (lags count grid steps, and a
    Monday week is not a Sunday week).
    """
    unique = pd.DatetimeIndex(pd.unique(times)).sort_values()
    if len(unique) < 2:
        raise InvalidInput("need at least two distinct times to build lag features")
    step = _within_series_step(series, times.asi8)
    if step is None:
        step = (unique[1:] - unique[:-1]).min()
    if step >= pd.Timedelta(days=28) and unique.is_month_start.all() and (unique == unique.normalize()).all():
        return pd.date_range(unique[0], unique[-1], freq="MS", unit="us"), pd.offsets.MonthBegin(1)
    if ((unique - unique[0]) % step != pd.Timedelta(0)).any():
        raise InvalidInput(
            f"series times are not on one regular grid (step {step}); "
            "weekly series must all start their weeks on the same weekday"
        )
    return pd.date_range(unique[0], unique[-1], freq=step, unit="us"), step


def _within_series_step(series: np.ndarray, ticks: np.ndarray) -> pd.Timedelta | None:
    """Smallest gap between two times of one series (None if no series has two times).

    Rows as the store returns them (each series contiguous, times ascending) need no
    sort; anything else is sorted first.
    """
    changes = series[1:] != series[:-1]
    gaps = np.where(changes, np.iinfo(np.int64).max, ticks[1:] - ticks[:-1])
    contiguous = np.count_nonzero(changes) + 1 == np.count_nonzero(np.bincount(series))
    if len(gaps) and contiguous and gaps.min() > 0:
        smallest = int(gaps.min())
    else:
        order = np.lexsort((ticks, series))
        series, ticks = series[order], ticks[order]
        within = (ticks[1:] - ticks[:-1])[series[1:] == series[:-1]]
        within = within[within > 0]
        smallest = int(within.min()) if len(within) else None
    if smallest is None or smallest == np.iinfo(np.int64).max:
        return None
    return pd.Timedelta(smallest, unit="us")


def _series_codes(series: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    """Position in ``names`` of each row's series, -1 for a series not in ``names``.

    Rows grouped by series (as the store returns them) are coded from the first row
    of each run alone; only interleaved rows pay for hashing every name.
    """
    values = series.to_numpy()
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(values[1:] != values[:-1]) + 1))
    heads = pd.Index(values[starts])
    if heads.is_unique:
        lengths = np.diff(np.append(starts, len(values)))
        return np.repeat(pd.Index(names).get_indexer(heads), lengths)
    return pd.Categorical(series, categories=list(names)).codes.astype(np.int64)


def season_length(step: Step) -> int:
    """Steps per year for the seasonal-naive baseline: 52 weekly, 12 monthly, 7 daily, else 1."""
    if isinstance(step, pd.offsets.BaseOffset):
        return 12
    return {pd.Timedelta(weeks=1): 52, pd.Timedelta(days=1): 7}.get(step, 1)


def make_panel(data: Dataset) -> Panel:
    """Scatter the long frame into (time × series) arrays; grid positions are computed, not joined."""
    names = data.targets + data.features
    column = _series_codes(data.frame["series"], names)
    known = column >= 0
    frame = data.frame if known.all() else data.frame[known]
    column = column[known]
    times = pd.DatetimeIndex(frame["time"]).as_unit("us")
    grid, step = time_grid(times, column)
    if isinstance(step, pd.offsets.BaseOffset):
        row = (times.year - grid[0].year) * 12 + (times.month - grid[0].month)
    else:
        row = (times - grid[0]) // step
    wide = np.full((len(grid), len(names)), np.nan)
    wide[np.asarray(row), column] = frame["value"].to_numpy(dtype=float)
    if np.count_nonzero(~np.isnan(wide)) != len(frame):
        raise InvalidInput("the data has a series with the same time twice, or a missing value")
    n_targets = len(data.targets)
    return Panel(grid, step, data.targets, data.features, wide[:, :n_targets], wide[:, n_targets:])


def feature_columns(params: PreprocessingParams, features: tuple[str, ...]) -> list[str]:
    """Model input columns, in the order the booster sees them."""
    return [
        *(f"target_lag_{k}" for k in params.used_target_lags),
        *(f"{name}_lag_{k}" for name in features for k in params.used_feature_lags),
        "horizon",
    ]


def _shift(values: np.ndarray, k: int, fill: float | bool = np.nan) -> np.ndarray:
    """Shift along time: row ``t`` of the result is row ``t - k`` of ``values`` (``fill`` outside)."""
    out = np.full(values.shape, fill, dtype=values.dtype)
    if k > 0:
        out[k:] = values[:-k]
    elif k < 0:
        out[:k] = values[-k:]
    else:
        out[:] = values
    return out


def _lag_values(
    panel: Panel, params: PreprocessingParams, times: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """The lag columns of the rows (grid position ``times``, target ``targets``); NaN before the grid.

    A gather per lag from the wide arrays: nothing is materialised for rows that are
    not asked for.
    """
    if feature_columns(params, panel.feature_names) == ["horizon"]:
        raise InvalidInput(
            "the preprocessing uses only feature_lags but the data config has no feature series"
        )
    n_features = len(panel.feature_names) if params.used_feature_lags else 0
    width = len(params.used_target_lags) + n_features * len(params.used_feature_lags)
    out = np.empty((len(times), width), order="F")  # column-major: what a DataFrame block holds
    column = 0
    for k in params.used_target_lags:
        out[:, column] = _at(panel.targets, times - k, targets)
        column += 1
    for feature in range(n_features):
        for k in params.used_feature_lags:
            out[:, column] = _at(panel.features, times - k, feature)
            column += 1
    return out


def _at(values: np.ndarray, times: np.ndarray, columns: np.ndarray | int) -> np.ndarray:
    """``values[times, columns]`` through flat indices, NaN where ``times`` is before the grid."""
    flat = times * values.shape[1] + columns
    inside = times >= 0
    if inside.all():
        return values.ravel()[flat]
    return np.where(inside, values.ravel()[np.where(inside, flat, 0)], np.nan)


def _complete_origins(panel: Panel, params: PreprocessingParams) -> np.ndarray:
    """(time, target) mask of origins whose every lag is observed: shifted masks, no values."""
    observed = ~np.isnan(panel.targets)
    complete = np.ones(observed.shape, dtype=bool)
    for k in params.used_target_lags:
        complete &= _shift(observed, k, fill=False)
    if panel.feature_names and params.used_feature_lags:
        every_feature = ~np.isnan(panel.features).any(axis=1)
        for k in params.used_feature_lags:
            complete &= _shift(every_feature, k, fill=False)[:, None]
    return complete


def build_training(panel: Panel, params: PreprocessingParams) -> pd.DataFrame:
    """The training matrix: ``time, series``, feature columns, ``y``; incomplete rows dropped."""
    n_targets = panel.targets.shape[1]
    complete = _complete_origins(panel, params).reshape(-1)
    observed = ~np.isnan(panel.targets)
    valid = np.stack(
        [complete & _shift(observed, -h, fill=False).reshape(-1) for h in params.horizons], axis=1
    )
    keeps = _sample_horizons(valid, params.horizons_per_origin)
    rows = np.concatenate([np.flatnonzero(keep) for keep in keeps])
    horizons = np.repeat(np.asarray(params.horizons), [int(keep.sum()) for keep in keeps])
    times, targets = np.divmod(rows, n_targets)
    head = {"time": panel.grid.to_numpy()[times], "series": _names(targets, panel.target_names)}
    lags = _lag_values(panel, params, times, targets)
    y = panel.targets[times + horizons, targets]
    return _frame(params, panel.feature_names, head, lags, horizons, {"y": y})


def _sample_horizons(valid: np.ndarray, per_origin: int | None) -> list[np.ndarray]:
    """Keep each origin for ``per_origin`` of its usable horizons, drawn with a fixed seed."""
    if per_origin is not None and per_origin < valid.shape[1]:
        score = np.random.default_rng(SAMPLING_SEED).random(valid.shape)
        score[~valid] = np.inf
        rank = score.argsort(axis=1).argsort(axis=1)
        valid = valid & (rank < per_origin)
    return list(valid.T)


def build_latest(panel: Panel, params: PreprocessingParams) -> pd.DataFrame:
    """For every target, its row at its own latest week, once per horizon.

    Columns ``time`` (the forecast origin, the seed's ``last_date``), ``series``,
    ``target_date``, ``last_value``, then the feature columns. Lags missing at the
    origin (a feature that ended earlier) stay NaN: LightGBM routes them as missing.
    """
    n_time, n_targets = panel.targets.shape
    observed = ~np.isnan(panel.targets)
    last = n_time - 1 - np.argmax(observed[::-1], axis=0)
    columns = np.arange(n_targets)
    lags = _lag_values(panel, params, last, columns)
    n_h = len(params.horizons)
    horizons = np.repeat(np.asarray(params.horizons), n_targets)
    origins = pd.DatetimeIndex(np.tile(panel.grid.to_numpy()[last], n_h))
    head = {
        "time": origins,
        "series": _names(np.tile(columns, n_h), panel.target_names),
        "target_date": _add_steps(origins, horizons, panel.step),
        "last_value": np.tile(panel.targets[last, columns], n_h),
    }
    return _frame(params, panel.feature_names, head, np.tile(lags, (n_h, 1)), horizons, {})


def _names(codes: np.ndarray, names: tuple[str, ...]) -> pd.Categorical:
    """Series names as a categorical: cheap to build and to group by on large matrices."""
    return pd.Categorical.from_codes(codes, categories=list(names))


def _add_steps(times: pd.DatetimeIndex, steps: np.ndarray, step: Step) -> pd.DatetimeIndex:
    if isinstance(step, pd.offsets.BaseOffset):
        months = times.year * 12 + times.month - 1 + steps
        return pd.to_datetime({"year": months // 12, "month": months % 12 + 1, "day": 1}).astype(
            "datetime64[us]"
        )
    return times + pd.to_timedelta(steps * step)


def _frame(
    params: PreprocessingParams,
    features: tuple[str, ...],
    head: dict[str, object],
    lags: np.ndarray,
    horizons: np.ndarray,
    tail: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Columns: ``head``, the feature columns in booster order, ``tail``."""
    names = feature_columns(params, features)
    frame = pd.DataFrame(lags, columns=names[:-1])
    frame["horizon"] = horizons.astype(int)
    for position, (key, values) in enumerate(head.items()):
        frame.insert(position, key, values)
    for key, values in tail.items():
        frame[key] = values
    if "time" in frame:
        frame["time"] = frame["time"].astype("datetime64[us]")
    return frame
