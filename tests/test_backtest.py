"""Rolling-origin backtest (``forecasting.backtest``): cut-offs, no look-ahead, metrics, intervals.

The data: two weekly targets ``a`` and ``b`` and one feature ``f`` over 70 weeks
(more than a season of 52, so the seasonal-naive baseline and the seasonal MASE
scale exist). With horizons [1, 2] and 3 windows the cut-offs sit at weeks 63, 65
and 67: the last leaves exactly two weeks (68, 69) to score.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest import METHODS, BacktestResult, _coverage, _halfwidths, backtest, cutoff_positions
from forecasting.configs import preprocessing_params
from forecasting.dataset import Dataset
from forecasting.errors import InvalidInput
from forecasting.estimator import fit, predict_latest
from forecasting.features import build_training, feature_columns, make_panel
from forecasting.limits import DEFAULT_WINDOWS

START = pd.Timestamp("2020-01-05")  # a Sunday
N_WEEKS = 70
SEASON = 52
WINDOWS = 3
CUTOFF_WEEKS = [65, 66, 67]
PARAMS = preprocessing_params({"horizon": [1, 2], "target_lags": [1, 2], "feature_lags": [1]})
ML = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "random_state": 0, "n_jobs": 1}


def week(i: int) -> pd.Timestamp:
    return START + pd.Timedelta(weeks=i)


def make_values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    w = np.arange(N_WEEKS)
    return {
        "a": np.round(50 + 10 * np.sin(2 * np.pi * w / SEASON) + rng.normal(0, 1, N_WEEKS), 1),
        "b": np.round(200 + 0.5 * w + 5 * np.cos(2 * np.pi * w / SEASON) + rng.normal(0, 2, N_WEEKS), 1),
        "f": np.round(1000 + 3 * np.sin(2 * np.pi * w / SEASON) + rng.normal(0, 1, N_WEEKS), 1),
    }


VALUES = make_values()


def dataset(values: dict[str, np.ndarray], targets=("a", "b"), features=("f",)) -> Dataset:
    parts = [
        pd.DataFrame({"series": name, "time": [week(i) for i in range(len(v))], "value": v.astype(float)})
        for name, v in values.items()
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame["time"] = frame["time"].astype("datetime64[us]")
    return Dataset(frame, tuple(targets), tuple(features), dict.fromkeys(values, 1))


def run(data: Dataset, **kwargs) -> BacktestResult:
    return backtest(data, PARAMS, ML, **{"windows": WINDOWS, **kwargs})


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return run(dataset(VALUES))


def model_predictions(result: BacktestResult) -> pd.DataFrame:
    points = result.points.astype({"series": str})
    return points.sort_values(["window", "series", "horizon"])[["window", "series", "horizon", "model"]]


# Cut-offs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_times", "max_horizon", "windows", "positions"),
    [
        (70, 2, 3, [65, 66, 67]),  # last = 70 - 1 - 2; one week apart
        (10, 1, 1, [8]),
        (100, 4, 4, [92, 93, 94, 95]),
        (20, 5, 13, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
    ],
)
def test_cutoff_positions(n_times: int, max_horizon: int, windows: int, positions: list[int]) -> None:
    assert cutoff_positions(n_times, max_horizon, windows) == positions


def test_result_reports_the_cutoff_weeks(result: BacktestResult) -> None:
    assert result.cutoffs == [week(i) for i in CUTOFF_WEEKS]
    assert result.season_length == SEASON
    assert sorted(result.points["window"].unique()) == [1, 2, 3]
    # every target, every horizon, every window is scored (all actuals exist)
    assert len(result.points) == 2 * 2 * WINDOWS


# No look-ahead -----------------------------------------------------------------------------


def test_each_window_is_the_hand_made_fit_on_the_data_known_at_its_cutoff(result: BacktestResult) -> None:
    data = dataset(VALUES)
    for number, cutoff in enumerate(result.cutoffs, 1):
        known = make_panel(data.until(cutoff))
        assert known.grid[-1] == cutoff
        booster = fit(build_training(known, PARAMS), feature_columns(PARAMS, known.feature_names), ML)
        by_hand = predict_latest(booster, known, PARAMS).astype({"series": str})
        by_hand = by_hand.sort_values(["series", "horizon"]).reset_index(drop=True)
        window = result.points[result.points["window"] == number].astype({"series": str})
        window = window.sort_values(["series", "horizon"]).reset_index(drop=True)
        np.testing.assert_array_equal(window["model"].to_numpy(), by_hand["prediction"].to_numpy())
        assert (window["origin"] == cutoff).all()
        assert (window["series"] == by_hand["series"]).all()
        assert (window["horizon"].to_numpy() == by_hand["horizon"].to_numpy()).all()


def poisoned_after(cutoff_week: int) -> dict[str, np.ndarray]:
    """Every series (targets and feature) set to an absurd 1e6 after ``cutoff_week``."""
    out = {}
    for name, v in VALUES.items():
        v = v.copy()
        v[cutoff_week + 1 :] = 1e6
        out[name] = v
    return out


def test_values_after_the_last_cutoff_change_no_forecast(result: BacktestResult) -> None:
    poisoned = run(dataset(poisoned_after(CUTOFF_WEEKS[-1])))
    pd.testing.assert_frame_equal(model_predictions(poisoned), model_predictions(result))
    before = result.points["target_date"] <= week(CUTOFF_WEEKS[-1])
    pd.testing.assert_frame_equal(poisoned.points[before], result.points[before])
    # only the actuals after the last cut-off see the absurd values
    assert (poisoned.points.loc[~before, "actual"] == 1e6).all()
    assert (~before).sum() == 2 * (1 + 2)  # the last window's two horizons, the one before's second


@pytest.mark.parametrize("window", [1, 2, 3])
def test_values_after_a_cutoff_change_no_forecast_of_that_window_or_before(
    result: BacktestResult, window: int
) -> None:
    poisoned = model_predictions(run(dataset(poisoned_after(CUTOFF_WEEKS[window - 1]))))
    clean = model_predictions(result)
    upto = clean["window"] <= window
    pd.testing.assert_frame_equal(poisoned[upto], clean[upto])
    if window < WINDOWS:  # later windows train on the absurd values: the poisoning did reach the data
        assert not np.allclose(poisoned.loc[~upto, "model"], clean.loc[~upto, "model"])


# Points and metrics ------------------------------------------------------------------------


def test_points_hold_the_actual_the_baselines_and_the_scale(result: BacktestResult) -> None:
    value = {(name, week(i)): x for name, v in VALUES.items() for i, x in enumerate(v)}
    points = result.points.astype({"series": str})
    assert set(METHODS) | {"actual", "scale", "origin", "target_date"} <= set(points.columns)
    for row in points.itertuples():
        cutoff_week = CUTOFF_WEEKS[row.window - 1]
        assert row.origin == week(cutoff_week)
        assert row.target_date == week(cutoff_week + row.horizon)
        assert row.actual == value[(row.series, row.target_date)]
        assert row.last_value == value[(row.series, row.origin)]
        assert row.seasonal_naive == value[(row.series, row.target_date - pd.Timedelta(weeks=SEASON))]
        x = VALUES[row.series][: cutoff_week + 1]
        assert row.scale == pytest.approx(np.mean(np.abs(x[SEASON:] - x[:-SEASON])))
    # one row written out by hand: a, window 1 (cut-off week 65), horizon 2 -> target week 67
    first = points[(points["series"] == "a") & (points["window"] == 1) & (points["horizon"] == 2)].iloc[0]
    assert (first["actual"], first["last_value"], first["seasonal_naive"]) == (
        VALUES["a"][67],
        VALUES["a"][65],
        VALUES["a"][15],
    )


def expected_metrics(points: pd.DataFrame) -> dict[tuple[object, str], dict[str, float]]:
    out = {}
    for horizon in [*sorted(points["horizon"].unique()), "all"]:
        subset = points if horizon == "all" else points[points["horizon"] == horizon]
        actual, scale = subset["actual"].to_numpy(), subset["scale"].to_numpy()
        for method in METHODS:
            forecast = subset[method].to_numpy()
            error = forecast - actual
            out[(horizon, method)] = {
                "n": len(error),
                "mae": np.mean(np.abs(error)),
                "rmse": np.sqrt(np.mean(error**2)),
                "smape": np.mean(200 * np.abs(error) / (np.abs(forecast) + np.abs(actual))),
                "mase": np.mean(np.abs(error) / scale),
            }
    return out


def test_metrics_follow_the_formulas_on_the_points(result: BacktestResult) -> None:
    wanted = expected_metrics(result.points)
    metrics = result.metrics
    assert list(zip(metrics["horizon"], metrics["method"])) == list(wanted)
    for row in metrics.to_dict("records"):
        numbers = wanted[(row["horizon"], row["method"])]
        assert row["n"] == numbers["n"]
        for key in ("mae", "rmse", "smape", "mase"):
            assert row[key] == pytest.approx(numbers[key], rel=1e-12), (row["horizon"], row["method"], key)
    assert result.mase == pytest.approx(wanted[("all", "model")]["mase"], rel=1e-12)


# Conformal intervals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "rank"),
    [
        (0.5, 4),  # n = 6 per horizon: ceil(7 * 0.5) = 4th smallest
        (0.9, 6),  # ceil(7 * 0.9) = 7, clamped to n = 6: the largest error
    ],
)
def test_halfwidth_is_the_conformal_order_statistic(level: float, rank: int) -> None:
    outcome = run(dataset(VALUES), level=level)
    assert outcome.level == level
    assert set(outcome.halfwidths) == {1, 2}
    for horizon, width in outcome.halfwidths.items():
        subset = outcome.points[outcome.points["horizon"] == horizon]
        errors = np.sort(np.abs(subset["model"] - subset["actual"]).to_numpy())
        assert len(errors) == 6
        assert rank == min(math.ceil((len(errors) + 1) * level), len(errors))
        assert width == pytest.approx(errors[rank - 1], abs=1e-6)


def test_coverage_checks_each_window_against_the_interval_of_the_other_windows() -> None:
    # one series, horizon 1, errors 1..4 in windows 1..4: the others' 50% width excludes the largest
    points = pd.DataFrame(
        {"horizon": 1, "window": [1, 2, 3, 4], "model": [1.0, 2.0, 3.0, 4.0], "actual": 0.0}
    )
    # leave out 1: others 2,3,4 -> ceil(4*.5)=2nd = 3 >= 1 hit; out 2: 1,3,4 -> 3 hit;
    # out 3: 1,2,4 -> 2 miss; out 4: 1,2,3 -> 2 miss
    assert _coverage(points, 0.5, (1,)) == {1: 0.5, "all": 0.5}
    assert _coverage(points.assign(window=1), 0.5, (1,)) == {}  # one window: nothing to calibrate on


def test_coverage_is_reported_per_horizon_in_the_table(result: BacktestResult) -> None:
    assert set(result.coverage) == {1, 2, "all"}
    assert all(0 <= c <= 1 for c in result.coverage.values())
    assert [row["interval_coverage"] for row in result.table()] == [
        result.coverage[1],
        result.coverage[2],
        result.coverage["all"],
    ]


def test_halfwidth_rank_is_exact_for_decimal_levels() -> None:
    points = pd.DataFrame({"horizon": 1, "model": np.arange(1.0, 25.0), "actual": 0.0})
    # n = 24, level 0.56: (n + 1) * level = 14 exactly, so the 14th smallest error
    assert _halfwidths(points, 0.56, (1,)) == {1: 14.0}


# Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("windows", [0, -1])
def test_windows_below_one_are_refused(windows: int) -> None:
    with pytest.raises(InvalidInput, match="windows must be >= 1"):
        run(dataset(VALUES), windows=windows)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.1, 1.5])
def test_level_outside_zero_one_is_refused(level: float) -> None:
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        run(dataset(VALUES), level=level)


@pytest.mark.parametrize(
    ("n_weeks", "windows"),
    [
        (10, 8),  # first cut-off at 10 - 1 - 2 - 7 = 0: nothing known before it (7 windows start at 1)
        (3, 1),  # first cut-off at 3 - 1 - 2 = 0: nothing known before it
    ],
)
def test_not_enough_history_is_refused(n_weeks: int, windows: int) -> None:
    short = {name: v[:n_weeks] for name, v in VALUES.items()}
    with pytest.raises(InvalidInput, match="not enough history"):
        run(dataset(short), windows=windows)


# Summaries ---------------------------------------------------------------------------------


def test_table_has_one_row_per_horizon_and_all(result: BacktestResult) -> None:
    table = result.table()
    assert [row["horizon"] for row in table] == [1, 2, "all"]
    metrics = result.metrics.set_index(["horizon", "method"])
    for row in table:
        assert row["n"] == 2 * WINDOWS * (2 if row["horizon"] == "all" else 1)
        for method in METHODS:
            assert row[f"mae_{method}"] == pytest.approx(
                metrics.loc[(row["horizon"], method), "mae"], abs=1e-6
            )
            assert row[f"mase_{method}"] == pytest.approx(
                metrics.loc[(row["horizon"], method), "mase"], abs=1e-6
            )
        assert row["interval_halfwidth"] == (
            None if row["horizon"] == "all" else result.halfwidths[row["horizon"]]
        )
    json.dumps(table)


def test_as_dict_is_json_serialisable(result: BacktestResult) -> None:
    summary = json.loads(json.dumps(result.as_dict()))
    assert summary["windows"] == WINDOWS
    assert summary["cutoffs"] == [week(i).isoformat() for i in CUTOFF_WEEKS]
    assert summary["points"] == len(result.points)
    assert summary["season_length"] == SEASON
    assert summary["mase"] == pytest.approx(result.mase, abs=1e-6)
    assert len(summary["metrics"]) == 3 * len(METHODS)
    assert summary["interval"] == {
        "level": 0.9,
        "halfwidth": {"1": result.halfwidths[1], "2": result.halfwidths[2]},
        "coverage": {str(h): c for h, c in result.coverage.items()},
    }


def test_table_works_when_history_is_shorter_than_a_season() -> None:
    short = {name: v[:40] for name, v in VALUES.items()}  # no target has a value 52 weeks back
    outcome = run(dataset(short))
    assert [row["horizon"] for row in outcome.table()] == [1, 2, "all"]


def test_a_feature_ending_after_the_targets_does_not_empty_the_last_window() -> None:
    values = {"a": VALUES["a"][:-1], "b": VALUES["b"][:-1], "f": VALUES["f"]}  # targets end a week earlier
    outcome = run(dataset(values), windows=1)
    assert len(outcome.points) == 2 * 2  # every target and horizon scored
    assert math.isfinite(outcome.mase)


def test_the_default_backtest_covers_a_quarter_of_a_year_of_weekly_origins() -> None:
    outcome = backtest(dataset(VALUES), PARAMS, ML)
    assert len(outcome.cutoffs) == DEFAULT_WINDOWS >= 13
    assert set(np.diff(outcome.cutoffs)) == {pd.Timedelta(weeks=1)}
    per_horizon = outcome.points.groupby("horizon").size()
    assert (per_horizon >= 13 * 2).all()  # two targets: at least 26 errors calibrate each interval
