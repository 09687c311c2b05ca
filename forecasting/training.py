"""Train, backtest and register a model version: the pipeline the CLI, DAGs and service call.

Claims the model (one training per model at a time), reads the model and its data
(two SELECTs), backtests on the data as known at each cut-off, fits on everything,
and registers the booster into the claimed version with metadata that makes the
version reproducible: the data version of every series, the params, the feature
names, row counts, library versions, timings and the backtest.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from sqlalchemy import Engine

from forecasting.backtest import DEFAULT_LEVEL, BacktestResult, backtest
from forecasting.configs import ModelSpec, get_model
from forecasting.dataset import Dataset, load_dataset
from forecasting.deadline import Deadline
from forecasting.estimator import booster_names, fit, predict_latest
from forecasting.features import build_training, feature_columns, make_panel
from forecasting.limits import DEFAULT_WINDOWS
from forecasting.registry import Registered, register, training


@dataclass(frozen=True)
class TrainResult:
    model: str
    version_id: int
    status: str
    reason: str | None
    rows: int
    data_versions: dict[str, int]
    backtest: BacktestResult | None
    timings: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version_id": self.version_id,
            "status": self.status,
            "reason": self.reason,
            "rows": self.rows,
            "data_versions": self.data_versions,
            "mase": self.backtest.as_dict()["mase"] if self.backtest else None,
            "timings": self.timings,
        }


def load_model_data(engine: Engine, name: str) -> tuple[ModelSpec, Dataset]:
    """The model's configs and its data config's current data."""
    with engine.connect() as conn:
        spec = get_model(conn, name)
        return spec, load_dataset(conn, spec.data_config_id)


def run_backtest(
    engine: Engine,
    name: str,
    *,
    windows: int = DEFAULT_WINDOWS,
    level: float = DEFAULT_LEVEL,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Backtest the model's current configs on its current data, without registering anything."""
    spec, data = load_model_data(engine, name)
    return backtest(data, spec.preprocessing, spec.ml_params, windows=windows, level=level, progress=progress)


def train_model(
    engine: Engine,
    name: str,
    *,
    windows: int = DEFAULT_WINDOWS,
    level: float = DEFAULT_LEVEL,
    gate: bool = False,
    progress: Callable[[str], None] | None = None,
    deadline: Deadline | None = None,
) -> TrainResult:
    """Backtest (unless ``windows`` is 0), fit on all data, register a new version.

    One training per model at a time: while another process trains ``name``, this one
    fails at once with :class:`~forecasting.registry.TrainingInProgress`. With a
    ``deadline`` (a request's), the work stops with
    :class:`~forecasting.deadline.DeadlineExceeded` before a backtest window or the fit
    that would not end in time, judged by the windows already done.
    """
    with training(engine, name) as claim:
        if progress:
            progress(f"training {name} as version {claim.version_id}")
        started = time.perf_counter()
        spec, data = load_model_data(engine, name)
        timings = {"load_s": time.perf_counter() - started}
        result = None
        fit_estimate_s = 0.0
        if windows:
            mark = time.perf_counter()
            result = backtest(
                data,
                spec.preprocessing,
                spec.ml_params,
                windows=windows,
                level=level,
                progress=progress,
                deadline=deadline,
            )
            timings["backtest_s"] = time.perf_counter() - mark
            fit_estimate_s = timings["backtest_s"] / windows
        if deadline is not None:
            deadline.require(f"training {name}: the fit on all data", fit_estimate_s)
        if progress:
            progress(f"training {name} on all data")
        mark = time.perf_counter()
        panel = make_panel(data)
        training_rows = build_training(panel, spec.preprocessing)
        timings["features_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        columns = feature_columns(spec.preprocessing, panel.feature_names)
        booster = fit(training_rows, columns, spec.ml_params)
        timings["fit_s"] = time.perf_counter() - mark
        check = predict_latest(booster, panel, spec.preprocessing)
        timings["total_s"] = time.perf_counter() - started
        meta = _metadata(
            spec, data, training_rows, columns, result, {k: round(v, 3) for k, v in timings.items()}
        )
        meta["last_dates"] = {s: t.isoformat() for s, t in check.groupby("series")["time"].max().items()}
        registered: Registered = register(
            engine,
            claim,
            booster.model_to_string(),
            meta,
            check[columns].to_numpy(dtype=float),
            check["prediction"].to_numpy(),
            gate=gate,
        )
    return TrainResult(
        model=name,
        version_id=registered.version_id,
        status=registered.status,
        reason=registered.reason,
        rows=len(training_rows),
        data_versions=data.data_versions,
        backtest=result,
        timings=meta["timings"],
    )


def _metadata(
    spec: ModelSpec,
    data: Dataset,
    training: pd.DataFrame,
    columns: list[str],
    result: BacktestResult | None,
    timings: dict[str, float],
) -> dict[str, Any]:
    return {
        "data_versions": data.data_versions,
        "targets": list(data.targets),
        "features": list(data.features),
        "feature_names": columns,
        "booster_feature_names": booster_names(columns),
        "preprocessing": spec.preprocessing.as_params(),
        "ml_params": spec.ml_params,
        "configs": {
            "ml_config": spec.ml_config,
            "data_config": spec.data_config,
            "preprocessing_config": spec.preprocessing_config,
        },
        "rows": len(training),
        "first_time": training["time"].min().isoformat() if len(training) else None,
        "last_time": training["time"].max().isoformat() if len(training) else None,
        "backtest": result.as_dict() if result else None,
        "libraries": {
            "lightgbm": lightgbm.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "timings": timings,
    }
