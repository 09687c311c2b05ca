"""Forecasts from the served model version and the current data (or caller-supplied history).

Per target series and horizon: the seed's ``last_date, last_value, prediction,
horizon, predicted_delta``, plus ``target_date`` and the conformal interval, with the
model version and the data versions that produced them. Features are rebuilt with
the params *recorded in the version* (not the config as it may have been edited
since), through the same code that built the training matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import lightgbm
import pandas as pd
from sqlalchemy import Connection, Engine, select

from forecasting.configs import preprocessing_params
from forecasting.dataset import Dataset, load_dataset, supplied_dataset
from forecasting.errors import ArtifactError, Conflict, NotFound
from forecasting.estimator import load_booster, predict_latest, probe_artifact, same_predictions
from forecasting.features import build_latest, feature_columns, make_panel
from forecasting.models import DataConfigSeries, MLModel, TimeSeries, TSVersion, is_current, served_versions
from forecasting.registry import ServedVersion, mark_unloadable, served_version
from forecasting.tables import reported


@dataclass(frozen=True)
class ForecastKey:
    """What a forecast depends on: the served model version and the state of the current data.

    The data state of a series is its current version id *and* that version's row count
    and last time: a weekly append keeps the version id, so the id alone would keep
    answering from last week's origin.
    """

    model: str
    version_id: int | None
    data_state: tuple[tuple[str, int | None, int | None, datetime | None], ...]


def forecast_key(conn: Connection, model: str) -> ForecastKey:
    """The key of ``model``'s forecast now, in one SELECT (no artifact, no values).

    A service compares it with the key of the forecast it holds: equal keys mean
    the held forecast is still the one :func:`forecast` would compute.
    """
    served = served_versions()
    rows = conn.execute(
        select(
            MLModel.name,
            served.c.version_id,
            TimeSeries.name.label("series"),
            TSVersion.id.label("data"),
            TSVersion.n_values,
            TSVersion.last_time,
        )
        .select_from(MLModel)
        .outerjoin(served, served.c.model_id == MLModel.id)
        .outerjoin(DataConfigSeries, DataConfigSeries.data_config_id == MLModel.data_config_id)
        .outerjoin(TimeSeries, TimeSeries.id == DataConfigSeries.timeseries_id)
        .outerjoin(TSVersion, (TSVersion.timeseries_id == TimeSeries.id) & is_current())
        .where(MLModel.name == model)
        .order_by(TimeSeries.name)
    ).all()
    if not rows:
        raise NotFound(f"unknown model: {model}")
    state = tuple(
        (row.series, row.data, row.n_values, row.last_time) for row in rows if row.series is not None
    )
    return ForecastKey(model, rows[0].version_id, state)


def checked_booster(version: ServedVersion, data: Dataset) -> lightgbm.Booster:
    """The version's booster, loaded in this process only once a child process has used it.

    LightGBM can abort the whole process on a malformed model text, so a long-lived
    process (a serving worker) parses a version first in a child, on the rows it is
    about to predict, then loads it itself and requires the same predictions.
    Raises :class:`ArtifactError` if the version is unusable.
    """
    params = preprocessing_params(version.meta["preprocessing"])
    panel = make_panel(version_data(version, data))
    latest = build_latest(panel, params)
    rows = latest[feature_columns(params, panel.feature_names)].to_numpy(dtype=float)
    expected = probe_artifact(version.artifact, rows)
    booster = load_booster(version.artifact)
    if not same_predictions(booster.predict(rows) if len(rows) else expected[:0], expected):
        raise ArtifactError(f"model {version.model!r} version {version.version_id} predicts inconsistently")
    return booster


@dataclass(frozen=True)
class Loaded:
    """A served version that loads, its booster and the data it forecasts."""

    version: ServedVersion
    booster: lightgbm.Booster
    data: Dataset


def load_served(
    engine: Engine,
    model: str,
    *,
    refused: Collection[int] = (),
    held: tuple[ServedVersion, lightgbm.Booster] | None = None,
    on_refused: Callable[[int, str], None] | None = None,
) -> Loaded:
    """The served version of ``model`` with its booster, checked in a child process first.

    A version whose artifact does not load is marked ``failed`` in the database
    (:func:`registry.mark_unloadable`) and the next served version is tried, so the
    CLI, the listings and every serving worker agree on what is served. ``refused``
    versions are skipped; ``held`` (a version already loaded by this process) is
    reused without a new check when it is still the served one; ``on_refused`` hears of
    each version found unloadable.
    """
    skipped = set(refused)
    while True:
        with engine.connect() as conn:
            version = served_version(conn, model, skipped)
            data = load_dataset(conn, version.data_config_id)
        if held is not None and held[0].version_id == version.version_id:
            return Loaded(held[0], held[1], data)
        try:
            return Loaded(version, checked_booster(version, data), data)
        except ArtifactError as exc:
            skipped.add(version.version_id)
            mark_unloadable(engine, version.version_id, str(exc))
            if on_refused:
                on_refused(version.version_id, str(exc))


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
    loaded = load_served(engine, name)
    data = loaded.data if history is None else supplied_dataset(loaded.data, history)
    return compute_forecast(loaded.booster, loaded.version, version_data(loaded.version, data))
