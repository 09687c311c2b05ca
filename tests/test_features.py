"""Lag features (``forecasting.features``): the seed's preprocessing, specified on tiny panels.

Values are chosen so every cell names its origin: series ``a`` holds 10, 11, 12, …,
series ``b`` 100, 101, …, feature ``f`` 1000, … and feature ``g`` 2000, … (the last
digits are the week index), so an expected frame can be checked by eye.

Weeks are Sundays from 2024-01-07: week 0 = 01-07, 1 = 01-14, 2 = 01-21, 3 = 01-28,
4 = 02-04, 5 = 02-11, 6 = 02-18, 7 = 02-25.

Row order is not part of the specification (content tests compare after sorting by
horizon, series, time); determinism of the order is checked by the shuffled-input test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from forecasting.configs import preprocessing_params
from forecasting.dataset import Dataset
from forecasting.errors import InvalidInput
from forecasting.features import build_latest, build_training, feature_columns, make_panel

START = pd.Timestamp("2024-01-07")  # a Sunday


def week(i: int) -> pd.Timestamp:
    return START + pd.Timedelta(weeks=i)


def rows(
    name: str, values: Sequence[float | None], *, first: int = 0
) -> list[tuple[str, pd.Timestamp, float]]:
    """Long rows of one weekly series starting at week ``first``; ``None`` is a missing week."""
    return [(name, week(first + i), float(v)) for i, v in enumerate(values) if v is not None]


def dataset(parts: Sequence[tuple[str, pd.Timestamp, float]], targets: Sequence[str], features=()) -> Dataset:
    frame = pd.DataFrame(parts, columns=["series", "time", "value"])
    frame["time"] = frame["time"].astype("datetime64[us]")
    return Dataset(frame, tuple(targets), tuple(features), dict.fromkeys([*targets, *features], 1))


def params(**raw):
    return preprocessing_params(raw)


def times(*dates: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(dates))).astype("datetime64[us]")


def expected(**columns) -> pd.DataFrame:
    """An expected frame: ``time``/``target_date`` as dates, ``horizon`` int, lags and ``y`` float."""
    frame = pd.DataFrame(columns)
    for key in ("time", "target_date"):
        if key in frame:
            frame[key] = times(*columns[key])
    for key in frame.columns:
        if key == "horizon":
            frame[key] = frame[key].astype("int64")
        elif key not in ("time", "target_date", "series"):
            frame[key] = frame[key].astype("float64")
    return frame


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by horizon, series, time; ``series`` as plain strings (its dtype is not specified)."""
    plain = frame.astype({"series": str})
    return plain.sort_values(["horizon", "series", "time"], kind="stable").reset_index(drop=True)


def assert_rows(actual: pd.DataFrame, wanted: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(canonical(actual), canonical(wanted))


A7 = rows("a", [10, 11, 12, 13, 14, 15, 16])
B7 = rows("b", [100, 101, 102, 103, 104, 105, 106])


# Training matrix ---------------------------------------------------------------------------


def test_one_target_lags_1_2_horizon_1() -> None:
    data = dataset(rows("a", [10, 11, 12, 13, 14, 15]), ["a"])
    training = build_training(make_panel(data), params(horizon=1, target_lags=[1, 2]))
    # origins need weeks t-2 and t+1: t = 2, 3, 4
    assert list(training.columns) == ["time", "series", "target_lag_1", "target_lag_2", "horizon", "y"]
    assert_rows(
        training,
        expected(
            time=["2024-01-21", "2024-01-28", "2024-02-04"],
            series=["a", "a", "a"],
            target_lag_1=[11, 12, 13],
            target_lag_2=[10, 11, 12],
            horizon=[1, 1, 1],
            y=[13, 14, 15],
        ),
    )


def test_two_targets_are_stacked_into_the_same_lag_columns() -> None:
    data = dataset(rows("a", [10, 11, 12, 13, 14]) + rows("b", [100, 101, 102, 103, 104]), ["a", "b"])
    training = build_training(make_panel(data), params(horizon=1, target_lags=[1, 2]))
    assert list(training.columns) == ["time", "series", "target_lag_1", "target_lag_2", "horizon", "y"]
    assert_rows(
        training,
        expected(
            time=["2024-01-21", "2024-01-28"] * 2,
            series=["a", "a", "b", "b"],
            target_lag_1=[11, 12, 101, 102],
            target_lag_2=[10, 11, 100, 101],
            horizon=[1, 1, 1, 1],
            y=[13, 14, 103, 104],
        ),
    )


def features_dataset() -> Dataset:
    """Targets a, b on weeks 0-6; ``f`` starts a week late (weeks 1-6); ``g`` ends at week 3.

    ``g`` ends three weeks before the targets: with lag 1 and horizon 1 a feature that
    ended only two weeks early would still cover every origin that has a ``y``.
    """
    return dataset(
        A7
        + B7
        + rows("f", [1001, 1002, 1003, 1004, 1005, 1006], first=1)
        + rows("g", [2000, 2001, 2002, 2003]),
        ["a", "b"],
        ["f", "g"],
    )


FEATURE_PARAMS = {"horizon": 1, "target_lags": [1], "feature_lags": [1, 2]}


def test_feature_lags_are_aligned_on_time_and_incomplete_rows_are_dropped() -> None:
    training = build_training(make_panel(features_dataset()), params(**FEATURE_PARAMS))
    # f_lag_2 needs week t-2 >= 1 (t >= 3); g_lag_1 needs t-1 <= 3 (t <= 4); y needs t <= 5.
    assert_rows(
        training,
        expected(
            time=["2024-01-28", "2024-02-04"] * 2,
            series=["a", "a", "b", "b"],
            target_lag_1=[12, 13, 102, 103],
            f_lag_1=[1002, 1003, 1002, 1003],
            f_lag_2=[1001, 1002, 1001, 1002],
            g_lag_1=[2002, 2003, 2002, 2003],
            g_lag_2=[2001, 2002, 2001, 2002],
            horizon=[1, 1, 1, 1],
            y=[14, 15, 104, 105],
        ),
    )


def test_build_latest_keeps_missing_feature_lags_as_nan() -> None:
    latest = build_latest(make_panel(features_dataset()), params(**FEATURE_PARAMS))
    assert_rows(
        latest,
        expected(
            time=["2024-02-18", "2024-02-18"],
            series=["a", "b"],
            target_date=["2024-02-25", "2024-02-25"],
            last_value=[16, 106],
            target_lag_1=[15, 105],
            f_lag_1=[1005, 1005],
            f_lag_2=[1004, 1004],
            g_lag_1=[np.nan, np.nan],
            g_lag_2=[np.nan, np.nan],
            horizon=[1, 1],
        ),
    )


def test_unsorted_input_gives_exactly_the_same_matrices() -> None:
    data = features_dataset()
    shuffled = data.frame.sample(frac=1, random_state=7).reset_index(drop=True)
    assert not shuffled["time"].is_monotonic_increasing
    other = Dataset(shuffled, data.targets, data.features, data.data_versions)
    p = params(horizon=[1, 2], target_lags=[1, 2], feature_lags=[1, 2])
    pd.testing.assert_frame_equal(build_training(make_panel(other), p), build_training(make_panel(data), p))
    pd.testing.assert_frame_equal(build_latest(make_panel(other), p), build_latest(make_panel(data), p))


def test_multi_horizon_rows_per_horizon_with_lags_read_at_the_origin() -> None:
    data = dataset(A7, ["a"])
    training = build_training(make_panel(data), params(horizon=[1, 3], target_lags=[1, 2]))
    # origins t >= 2; horizon 1: t <= 5; horizon 3: t <= 3
    assert_rows(
        training,
        expected(
            time=["2024-01-21", "2024-01-28", "2024-02-04", "2024-02-11", "2024-01-21", "2024-01-28"],
            series=["a"] * 6,
            target_lag_1=[11, 12, 13, 14, 11, 12],
            target_lag_2=[10, 11, 12, 13, 10, 11],
            horizon=[1, 1, 1, 1, 3, 3],
            y=[13, 14, 15, 16, 15, 16],
        ),
    )
    lags = ["time", "series", "target_lag_1", "target_lag_2"]
    h1 = training.loc[training["horizon"] == 1, lags]
    h3 = training.loc[training["horizon"] == 3, lags]
    # the h=3 row of an origin reads exactly what the h=1 row of that origin reads
    assert len(h3.merge(h1, how="inner")) == len(h3) == 2


def test_horizons_per_origin_keeps_that_many_horizons_of_each_origin() -> None:
    data = dataset(A7 + B7, ["a", "b"])
    full = build_training(make_panel(data), params(horizon=[1, 2, 3], target_lags=[1]))
    one = build_training(make_panel(data), params(horizon=[1, 2, 3], target_lags=[1], horizons_per_origin=1))
    assert not one.duplicated(["time", "series"]).any()
    assert set(zip(one["time"], one["series"].astype(str))) == set(
        zip(full["time"], full["series"].astype(str))
    )
    assert len(canonical(one).merge(canonical(full), how="inner")) == len(one)  # a subset of the full rows
    again = build_training(
        make_panel(data), params(horizon=[1, 2, 3], target_lags=[1], horizons_per_origin=1)
    )
    pd.testing.assert_frame_equal(one, again)


# Inference rows ----------------------------------------------------------------------------


def test_build_latest_gives_every_target_its_own_last_week() -> None:
    data = dataset(rows("a", [10, 11, 12, 13, 14, 15]) + rows("b", [100, 101, 102, 103]), ["a", "b"])
    latest = build_latest(make_panel(data), params(horizon=[1, 2], target_lags=[1, 2]))
    assert list(latest.columns) == [
        "time",
        "series",
        "target_date",
        "last_value",
        "target_lag_1",
        "target_lag_2",
        "horizon",
    ]
    assert_rows(
        latest,
        expected(
            time=["2024-02-11", "2024-01-28", "2024-02-11", "2024-01-28"],
            series=["a", "b", "a", "b"],
            target_date=["2024-02-18", "2024-02-04", "2024-02-25", "2024-02-11"],
            last_value=[15, 103, 15, 103],
            target_lag_1=[14, 102, 14, 102],
            target_lag_2=[13, 101, 13, 101],
            horizon=[1, 1, 2, 2],
        ),
    )


# Grids: gaps, months, weekdays ---------------------------------------------------------------


def test_a_missing_week_gives_nan_lags_counted_in_weeks_not_rows() -> None:
    data = dataset(rows("a", [10, 11, 12, None, 14, 15, 16]) + B7, ["a", "b"])
    p = params(horizon=1, target_lags=[1, 2])
    # a: only origin 3 has weeks 1, 2 and 4 (its own week 3 is missing, which is allowed)
    assert_rows(
        build_training(make_panel(data), p),
        expected(
            time=["2024-01-28", "2024-01-21", "2024-01-28", "2024-02-04", "2024-02-11"],
            series=["a", "b", "b", "b", "b"],
            target_lag_1=[12, 101, 102, 103, 104],
            target_lag_2=[11, 100, 101, 102, 103],
            horizon=[1, 1, 1, 1, 1],
            y=[14, 103, 104, 105, 106],
        ),
    )
    gap_before_last = dataset(rows("a", [10, 11, 12, 13, 14, None, 16]), ["a"])
    assert_rows(
        build_latest(make_panel(gap_before_last), p),
        expected(
            time=["2024-02-18"],
            series=["a"],
            target_date=["2024-02-25"],
            last_value=[16],
            target_lag_1=[np.nan],  # week 5 is missing; a row-based shift would say 14
            target_lag_2=[14],
            horizon=[1],
        ),
    )


def monthly(values: Sequence[float], start: str) -> list[tuple[str, pd.Timestamp, float]]:
    months = pd.date_range(start, periods=len(values), freq="MS")
    return [("a", t, float(v)) for t, v in zip(months, values)]


def test_monthly_data_lags_count_months_and_target_date_adds_months() -> None:
    data = dataset(monthly([10, 11, 12, 13], "2024-08-01"), ["a"])
    p = params(horizon=[1, 3], target_lags=[1])
    assert_rows(
        build_training(make_panel(data), p),
        expected(
            time=["2024-09-01", "2024-10-01"],
            series=["a", "a"],
            target_lag_1=[10, 11],
            horizon=[1, 1],
            y=[12, 13],
        ),
    )
    assert_rows(
        build_latest(make_panel(data), p),
        expected(
            time=["2024-11-01", "2024-11-01"],
            series=["a", "a"],
            target_date=["2024-12-01", "2025-02-01"],
            last_value=[13, 13],
            target_lag_1=[12, 12],
            horizon=[1, 3],
        ),
    )


def test_weekly_series_on_different_weekdays_are_refused() -> None:
    wednesday = [("b", t + pd.Timedelta(days=3), v) for _, t, v in B7]
    with pytest.raises(InvalidInput, match="same weekday"):
        make_panel(dataset(A7 + wednesday, ["a", "b"]))


def test_weekly_series_on_adjacent_weekdays_are_refused() -> None:
    monday = [("b", t + pd.Timedelta(days=1), v) for _, t, v in B7]
    with pytest.raises(InvalidInput):
        make_panel(dataset(A7 + monday, ["a", "b"]))


def test_fewer_than_two_time_points_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least two"):
        make_panel(dataset(rows("a", [10]) + rows("b", [100]), ["a", "b"]))


# Which columns exist -------------------------------------------------------------------------


def test_feature_lags_without_feature_series_give_no_feature_columns() -> None:
    data = dataset(rows("a", [10, 11, 12, 13]), ["a"])
    training = build_training(make_panel(data), params(horizon=1, target_lags=[1], feature_lags=[1, 2]))
    assert_rows(
        training,
        expected(
            time=["2024-01-14", "2024-01-21"],
            series=["a", "a"],
            target_lag_1=[10, 11],
            horizon=[1, 1],
            y=[12, 13],
        ),
    )


def test_no_target_lags_with_features_gives_only_feature_columns() -> None:
    data = dataset(rows("a", [10, 11, 12, 13]) + rows("f", [1000, 1001, 1002, 1003]), ["a"], ["f"])
    training = build_training(make_panel(data), params(horizon=1, feature_lags=[1]))
    assert_rows(
        training,
        expected(
            time=["2024-01-14", "2024-01-21"],
            series=["a", "a"],
            f_lag_1=[1000, 1001],
            horizon=[1, 1],
            y=[12, 13],
        ),
    )


def test_no_target_lags_and_no_feature_series_is_refused_as_invalid_input() -> None:
    data = dataset(rows("a", [10, 11, 12, 13]), ["a"])
    with pytest.raises(InvalidInput):
        build_training(make_panel(data), params(horizon=1, feature_lags=[1]))


def test_feature_columns_are_the_frame_columns_between_series_and_y() -> None:
    p = params(horizon=[1, 2], target_lags=[1, 2], feature_lags=[1, 2])
    panel = make_panel(features_dataset())
    columns = feature_columns(p, panel.feature_names)
    assert columns == [
        "target_lag_1",
        "target_lag_2",
        "f_lag_1",
        "f_lag_2",
        "g_lag_1",
        "g_lag_2",
        "horizon",
    ]
    training = build_training(panel, p)
    assert list(training.columns) == ["time", "series", *columns, "y"]
    latest = build_latest(panel, p)
    assert list(latest.columns) == ["time", "series", "target_date", "last_value", *columns]


# Scale ---------------------------------------------------------------------------------------


def test_large_panel_has_the_hand_derived_number_of_rows() -> None:
    """300 series x 260 weeks, lags up to 52: series * (weeks - 52 - h) rows for horizon h."""
    n_series, n_weeks = 300, 260
    grid = pd.date_range(START, periods=n_weeks, freq="7D", unit="us")
    names = [f"s{i:03d}" for i in range(n_series)]
    # value = 10000 * series index + week index, so y - target_lag_k = horizon + k on every row
    frame = pd.DataFrame(
        {
            "series": np.repeat([*names, "f"], n_weeks),
            "time": np.tile(grid, n_series + 1),
            "value": (np.arange(n_series + 1)[:, None] * 10000 + np.arange(n_weeks)[None, :])
            .ravel()
            .astype(float),
        }
    )
    data = Dataset(frame, tuple(names), ("f",), {})
    training = build_training(
        make_panel(data), params(horizon=[1, 4], target_lags=[1, 2, 52], feature_lags=[1])
    )
    counts = training["horizon"].value_counts().to_dict()
    assert counts == {1: n_series * (n_weeks - 52 - 1), 4: n_series * (n_weeks - 52 - 4)}
    assert training.shape == (n_series * (2 * n_weeks - 2 * 52 - 5), 2 + 5 + 1)
    for k in (1, 2, 52):
        assert ((training["y"] - training[f"target_lag_{k}"]) == training["horizon"] + k).all()
    assert (training["f_lag_1"] % 10000 == training["target_lag_1"] % 10000).all()


def test_include_lag_0_adds_the_value_at_the_origin_to_each_lag_list() -> None:
    data = dataset(rows("a", [10, 11, 12, 13]) + rows("f", [1000, 1001, 1002, 1003]), ["a"], ["f"])
    p = params(horizon=1, target_lags=[1], feature_lags=[1], include_lag_0=True)
    assert_rows(
        build_training(make_panel(data), p),
        expected(
            time=["2024-01-14", "2024-01-21"],
            series=["a", "a"],
            target_lag_0=[11, 12],
            target_lag_1=[10, 11],
            f_lag_0=[1001, 1002],
            f_lag_1=[1000, 1001],
            horizon=[1, 1],
            y=[12, 13],
        ),
    )
    latest = build_latest(make_panel(data), p)
    assert latest[["target_lag_0", "target_lag_1", "f_lag_0"]].to_numpy().tolist() == [[13, 12, 1003]]


def test_include_lag_0_must_be_a_boolean() -> None:
    with pytest.raises(InvalidInput, match="include_lag_0 must be true or false"):
        params(horizon=1, target_lags=[1], include_lag_0="yes")
