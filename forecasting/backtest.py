"""Rolling-origin backtest with an expanding window, baselines and conformal intervals.

Window ``i`` of ``W`` cuts the data at a week ``c_i``: the model is trained on the
data *as known at* ``c_i`` (every row after it removed before any feature is built,
so no training row can read past the cut-off) and forecasts every target from its
latest week up to the largest horizon. Cut-offs are one week (one grid step) apart
and the last one leaves exactly the largest horizon to score: the default 13
windows are a quarter of a year of weekly origins, so each horizon has 13 errors
per target to calibrate its interval (4 windows a horizon apart gave ~8, and a 90%
interval was then just the largest error).

Errors per horizon for the model and two baselines on the same points (the
seasonal naive only where a season of history exists):
- ``last_value``: the value at the forecast origin, for every horizon;
- ``seasonal_naive``: the value one season before the target week.

MASE divides each absolute error by the series' in-sample seasonal-naive MAE up to
the cut-off (one-step naive if the series is shorter than a season), the scale of
Hyndman & Koehler (2006); below 1 means better than that naive forecast on average.
Interval half-widths per horizon are split-conformal quantiles of the model's
absolute backtest errors. Their empirical coverage is measured honestly, leaving
one window out: each window's points are checked against the half-width computed
from the other windows' errors (a point never calibrates its own interval).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.configs import PreprocessingParams
from forecasting.dataset import Dataset
from forecasting.deadline import Deadline
from forecasting.errors import InvalidInput
from forecasting.estimator import fit, predict_latest
from forecasting.features import Panel, build_training, feature_columns, make_panel, season_length
from forecasting.limits import DEFAULT_WINDOWS
from forecasting.tables import format_table, reported

DEFAULT_LEVEL = 0.9
METHODS = ("model", "seasonal_naive", "last_value")


@dataclass(frozen=True)
class BacktestResult:
    """Scores per horizon and overall, the cut-offs used, and interval half-widths."""

    cutoffs: list[pd.Timestamp]
    metrics: pd.DataFrame
    points: pd.DataFrame
    level: float
    halfwidths: dict[int, float]
    coverage: dict[int | str, float]
    season_length: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mase(self) -> float:
        """The model's MASE over every scored point (the gate's figure)."""
        row = self.metrics[(self.metrics["horizon"] == "all") & (self.metrics["method"] == "model")]
        return float(row["mase"].iloc[0])

    def table(self) -> list[dict[str, Any]]:
        """One row per horizon (and "all"): MAE and MASE of the model beside both baselines."""
        metrics = ["mae", "mase", "smape", "rmse"]
        wide = self.metrics.pivot(index="horizon", columns="method", values=metrics)
        wide = wide.reindex(
            columns=pd.MultiIndex.from_product([metrics, METHODS])
        )  # a baseline may be absent
        counts = self.metrics[self.metrics["method"] == "model"].set_index("horizon")["n"]
        rows = []
        for horizon in self.metrics["horizon"].drop_duplicates():
            row: dict[str, Any] = {"horizon": horizon, "n": int(counts[horizon])}
            for metric in ("mae", "mase"):
                for method in METHODS:
                    row[f"{metric}_{method}"] = reported(wide.loc[horizon, (metric, method)])
            row["rmse_model"] = reported(wide.loc[horizon, ("rmse", "model")])
            row["smape_model"] = reported(wide.loc[horizon, ("smape", "model")])
            row["interval_halfwidth"] = self.halfwidths.get(horizon) if horizon != "all" else None
            row["interval_coverage"] = self.coverage.get(horizon)
            rows.append(row)
        return rows

    def report(self) -> str:
        """The table, then the interval's measured coverage beside its nominal level: what people read."""
        measured = self.coverage.get("all")
        coverage = (
            f"{measured:.0%} of the backtest points fell inside the interval calibrated on the other windows"
            if measured is not None
            else "coverage not measured (one window: no other window to calibrate on)"
        )
        return f"{format_table(self.table())}\ninterval {self.level:.0%} nominal: {coverage}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary stored in the model version's metadata."""
        return {
            "windows": len(self.cutoffs),
            "cutoffs": [c.isoformat() for c in self.cutoffs],
            "season_length": self.season_length,
            "points": len(self.points),
            "mase": reported(self.mase),
            "metrics": [{k: reported(v) for k, v in row.items()} for row in self.metrics.to_dict("records")],
            "interval": {
                "level": self.level,
                "halfwidth": {str(h): w for h, w in self.halfwidths.items()},
                "coverage": {str(h): c for h, c in self.coverage.items()},
            },
        }


def cutoff_positions(n_times: int, max_horizon: int, windows: int) -> list[int]:
    """Grid positions of the cut-offs, oldest first: consecutive weeks, the last leaving ``max_horizon``."""
    last = n_times - 1 - max_horizon
    return list(range(last - windows + 1, last + 1))


def backtest(
    data: Dataset,
    params: PreprocessingParams,
    ml_params: dict[str, Any],
    *,
    windows: int = DEFAULT_WINDOWS,
    level: float = DEFAULT_LEVEL,
    progress: Callable[[str], None] | None = None,
    deadline: Deadline | None = None,
) -> BacktestResult:
    """Train and score ``windows`` times on expanding windows; see the module docstring.

    With a ``deadline``, each window after the first starts only if the windows left and
    one more fit of their size (training's fit on all data) should end in time, judged by
    the windows done so far.
    """
    if windows < 1:
        raise InvalidInput(f"backtest windows must be >= 1, got {windows}")
    if not 0 < level < 1:
        raise InvalidInput(f"interval level must be between 0 and 1, got {level}")
    panel = make_panel(data)
    m = season_length(panel.step)
    targets_end = int(np.flatnonzero(~np.isnan(panel.targets).all(axis=1))[-1]) + 1
    positions = cutoff_positions(targets_end, max(params.horizons), windows)
    if positions[0] < 1:
        raise InvalidInput(
            f"not enough history for {windows} weekly backtest windows and {max(params.horizons)} steps "
            f"ahead: {targets_end} time points"
        )
    columns = feature_columns(params, panel.feature_names)
    points, features_s, fit_s = [], 0.0, 0.0
    began = time.perf_counter()
    for number, position in enumerate(positions, 1):
        cutoff = panel.grid[position]
        if deadline is not None and number > 1:
            left = windows - number + 1
            per_window = (time.perf_counter() - began) / (number - 1)
            deadline.require(
                f"the backtest's {left} remaining window(s) and the fit on all data", per_window * (left + 1)
            )
        if progress:
            progress(f"backtest window {number}/{windows}: training on data up to {cutoff.date()}")
        started = time.perf_counter()
        known = make_panel(data.until(cutoff))
        training = build_training(known, params)
        if training.empty:
            raise InvalidInput(
                f"not enough history for {windows} weekly backtest windows: at the cut-off {cutoff.date()} "
                "no target has a complete training row (lags plus horizon); use fewer windows or more history"
            )
        fitting = time.perf_counter()
        booster = fit(training, columns, ml_params)
        features_s += fitting - started
        fit_s += time.perf_counter() - fitting
        forecast = predict_latest(booster, known, params)
        points.append(_score_points(panel, forecast, position, m).assign(window=number, cutoff=cutoff))
    scored = pd.concat(points, ignore_index=True)
    scored = scored[scored["actual"].notna()].reset_index(drop=True)
    if scored.empty:
        raise InvalidInput("the backtest has nothing to score: no target has values after a cut-off")
    return BacktestResult(
        cutoffs=[panel.grid[p] for p in positions],
        metrics=_metrics(scored),
        points=scored,
        level=level,
        halfwidths=_halfwidths(scored, level, params.horizons),
        coverage=_coverage(scored, level, params.horizons),
        season_length=m,
        timings={"features_s": round(features_s, 3), "fit_s": round(fit_s, 3)},
    )


def _score_points(panel: Panel, forecast: pd.DataFrame, cutoff: int, m: int) -> pd.DataFrame:
    """Actuals, baselines and the MASE scale of every forecast point, looked up by grid position."""
    column = pd.Index(panel.target_names).get_indexer(forecast["series"])
    origin = panel.grid.get_indexer(forecast["time"])
    horizon = forecast["horizon"].to_numpy()
    target = origin + horizon
    values = panel.targets
    n_time = len(panel.grid)
    actual = np.where(target < n_time, values[np.minimum(target, n_time - 1), column], np.nan)
    seasons = np.ceil(horizon / m).astype(int) * m
    naive_at = target - seasons
    seasonal = np.where(naive_at >= 0, values[np.maximum(naive_at, 0), column], np.nan)
    scale = _mase_scale(values[: cutoff + 1], m)[column]
    return pd.DataFrame(
        {
            "series": forecast["series"].to_numpy(),
            "horizon": horizon,
            "origin": forecast["time"].to_numpy(),
            "target_date": forecast["target_date"].to_numpy(),
            "actual": actual,
            "model": forecast["prediction"].to_numpy(),
            "seasonal_naive": seasonal,
            "last_value": forecast["last_value"].to_numpy(),
            "scale": scale,
        }
    )


def _mase_scale(history: np.ndarray, m: int) -> np.ndarray:
    """Per series: in-sample MAE of the seasonal naive (lag ``m``), else of the one-step naive."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a series shorter than m
        seasonal = np.nanmean(np.abs(history[m:] - history[:-m]), axis=0) if len(history) > m else None
        one_step = np.nanmean(np.abs(history[1:] - history[:-1]), axis=0)
    scale = (
        one_step if seasonal is None else np.where(np.isfinite(seasonal) & (seasonal > 0), seasonal, one_step)
    )
    return np.where(scale > 0, scale, np.nan)


def _metrics(points: pd.DataFrame) -> pd.DataFrame:
    """MAE, RMSE, sMAPE (%) and MASE per horizon and over all horizons, per method."""
    long = points.melt(
        id_vars=["horizon", "actual", "scale"],
        value_vars=list(METHODS),
        var_name="method",
        value_name="forecast",
    ).dropna(subset=["forecast"])
    error = long["forecast"] - long["actual"]
    denominator = long["forecast"].abs() + long["actual"].abs()
    long = long.assign(
        abs_error=error.abs(),
        sq_error=error**2,
        smape=np.where(denominator > 0, 200 * error.abs() / denominator.where(denominator > 0, 1), 0.0),
        scaled=error.abs() / long["scale"],
    )
    everything = long.assign(horizon="all")
    long = pd.concat([long.astype({"horizon": object}), everything], ignore_index=True)
    grouped = long.groupby(["horizon", "method"], sort=False)
    table = grouped.agg(
        n=("abs_error", "size"),
        mae=("abs_error", "mean"),
        rmse=("sq_error", "mean"),
        smape=("smape", "mean"),
        mase=("scaled", "mean"),
    ).reset_index()
    table["rmse"] = np.sqrt(table["rmse"])
    order = {method: i for i, method in enumerate(METHODS)}
    table["_h"] = table["horizon"].map(lambda h: math.inf if h == "all" else h)
    table["_m"] = table["method"].map(order)
    return table.sort_values(["_h", "_m"]).drop(columns=["_h", "_m"]).reset_index(drop=True)


def _conformal_width(errors: np.ndarray, level: float) -> float:
    """The ceil((n+1)·level)-th smallest of ``errors`` (absolute, any order), capped at the largest."""
    ordered = np.sort(errors)
    rank = min(math.ceil(round((len(ordered) + 1) * level, 9)), len(ordered))  # 25 * 0.56 is not 14.0
    return float(ordered[rank - 1])


def _halfwidths(points: pd.DataFrame, level: float, horizons: tuple[int, ...]) -> dict[int, float]:
    """Split-conformal half-width per horizon from every window's absolute errors."""
    errors = (points["model"] - points["actual"]).abs()
    return {
        h: round(_conformal_width(errors[points["horizon"] == h].to_numpy(), level), 6)
        for h in horizons
        if (points["horizon"] == h).any()
    }


def _coverage(points: pd.DataFrame, level: float, horizons: tuple[int, ...]) -> dict[int | str, float]:
    """Share of points inside the interval calibrated on the *other* windows, per horizon and overall.

    Empty with a single window (nothing to calibrate on but the point itself).
    """
    errors = (points["model"] - points["actual"]).abs().to_numpy()
    horizon, window = points["horizon"].to_numpy(), points["window"].to_numpy()
    hits: dict[int, list[np.ndarray]] = {}
    for h in horizons:
        for w in np.unique(window[horizon == h]):
            own, others = (horizon == h) & (window == w), (horizon == h) & (window != w)
            if others.any():
                hits.setdefault(h, []).append(errors[own] <= _conformal_width(errors[others], level))
    coverage: dict[int | str, float] = {h: round(float(np.concatenate(v).mean()), 4) for h, v in hits.items()}
    if hits:
        every = np.concatenate([a for v in hits.values() for a in v])
        coverage["all"] = round(float(every.mean()), 4)
    return coverage
