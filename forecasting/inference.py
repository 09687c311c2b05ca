"""Forecasts from the served model version and the current data (or caller-supplied history).

Per target series and horizon: the seed's ``last_date, last_value, prediction,
horizon, predicted_delta``, plus ``target_date`` and the conformal interval, with the
model version and the data versions that produced them. Features are rebuilt with
the params *recorded in the version* (not the config as it may have been edited
since), through the same code that built the training matrix.
"""

from __future__ import annotations

from typing import Any

import lightgbm
import pandas as pd
from sqlalchemy import Engine

from forecasting.configs import preprocessing_params
from forecasting.dataset import Dataset, load_dataset, supplied_dataset
from forecasting.errors import Conflict
from forecasting.estimator import load_booster, predict_latest
from forecasting.features import make_panel
from forecasting.registry import ServedVersion, served_version
from forecasting.tables import reported


def version_data(version: ServedVersion, data: Dataset) -> Dataset:
    """The series the version was trained on, in their roles then; refuses if any is gone."""
    targets, features = tuple(version.meta["targets"]), tuple(version.meta["features"])
    missing = sorted(set(targets + features) - set(data.targets + data.features))
    if missing:
        raise Conflict(
            f"model {version.model!r} version {version.version_id} uses series no longer in its data "
            f"config: {', '.join(missing)}; retrain it"
        )
    wanted = set(targets + features)
    return Dataset(
        data.frame[data.frame["series"].isin(wanted)],
        targets,
        features,
        {name: v for name, v in data.data_versions.items() if name in wanted},
    )


def compute_forecast(booster: lightgbm.Booster, version: ServedVersion, data: Dataset) -> dict[str, Any]:
    """The forecast document for ``data`` (already restricted by :func:`version_data`)."""
    params = preprocessing_params(version.meta["preprocessing"])
    rows = predict_latest(booster, make_panel(data), params)
    interval = (version.meta.get("backtest") or {}).get("interval") or {}
    halfwidth = {int(h): w for h, w in (interval.get("halfwidth") or {}).items()}
    width = rows["horizon"].map(halfwidth)
    rows = rows.assign(
        predicted_delta=rows["prediction"] - rows["last_value"],
        lower=rows["prediction"] - width,
        upper=rows["prediction"] + width,
    ).sort_values(["series", "horizon"])
    forecasts = [
        {
            "series": r.series,
            "last_date": r.time.isoformat(),
            "last_value": reported(r.last_value),
            "horizon": int(r.horizon),
            "target_date": r.target_date.isoformat(),
            "prediction": reported(r.prediction),
            "predicted_delta": reported(r.predicted_delta),
            "lower": reported(r.lower),
            "upper": reported(r.upper),
        }
        for r in rows.itertuples(index=False)
    ]
    return {
        "model": version.model,
        "model_version": version.version_id,
        "model_created_at": pd.Timestamp(version.created_at).isoformat(),
        "data_versions": data.data_versions,
        "trained_on_data_versions": version.meta.get("data_versions"),
        "interval_level": interval.get("level"),
        "forecasts": forecasts,
    }


def forecast(engine: Engine, name: str, history: pd.DataFrame | None = None) -> dict[str, Any]:
    """Forecast every target of ``name`` with its served version.

    ``history`` (``series, time, value``) replaces the stored values of the series it
    names: a what-if forecast; those series report data version ``None``.
    """
    with engine.connect() as conn:
        version = served_version(conn, name)
        data = load_dataset(conn, version.data_config_id)
    if history is not None:
        data = supplied_dataset(data, history)
    return compute_forecast(load_booster(version.artifact), version, version_data(version, data))
