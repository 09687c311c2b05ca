"""LightGBM fit and predict on feature frames: the one path for training, backtest and inference.

The booster is fitted on a NumPy matrix with sanitised feature names (LightGBM
refuses JSON characters in names, and series names may contain them); the real
column names travel in the model version's metadata, in the same order.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm
import numpy as np
import pandas as pd

from forecasting.configs import PreprocessingParams, ml_params
from forecasting.errors import ArtifactError, InvalidInput
from forecasting.features import Panel, build_latest, feature_columns
from forecasting.lightgbm_params import ReleaseBeforeFirstRound, clean_message, quiet_fatal, regressor_kwargs


def booster_names(columns: Sequence[str]) -> list[str]:
    """Feature names LightGBM accepts, unique, recognisably derived from ours."""
    names = [re.sub(r"[^0-9A-Za-z_]", "_", c) for c in columns]
    return [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]


def fit(training: pd.DataFrame, columns: Sequence[str], params: Mapping[str, Any]) -> lightgbm.Booster:
    """``LGBMRegressor(**params)`` on the training matrix; returns the fitted booster.

    The params are checked again against the real columns (a config may predate the check,
    and per-feature params depend on the columns); LightGBM prints nothing unless the params
    ask for it, and a fit it refuses for this data is an :class:`InvalidInput`.
    """
    if training.empty:
        raise InvalidInput("no complete training rows: the series are shorter than the lags plus the horizon")
    ml_params(params, n_features=len(columns))
    model = lightgbm.LGBMRegressor(**regressor_kwargs(params))
    try:
        with quiet_fatal() as release:
            model.fit(
                training[list(columns)].to_numpy(dtype=float),
                training["y"].to_numpy(dtype=float),
                feature_name=booster_names(columns),
                callbacks=[ReleaseBeforeFirstRound(release)],
            )
    except lightgbm.basic.LightGBMError as exc:  # e.g. labels the objective refuses
        raise InvalidInput(f"LightGBM cannot fit the ml params on this data: {clean_message(exc)}") from None
    return model.booster_


def predict_latest(booster: lightgbm.Booster, panel: Panel, params: PreprocessingParams) -> pd.DataFrame:
    """The latest row of every target and horizon, with the booster's ``prediction``."""
    latest = build_latest(panel, params)
    columns = feature_columns(params, panel.feature_names)
    latest["prediction"] = booster.predict(latest[columns].to_numpy(dtype=float)) if len(latest) else []
    return latest


def load_booster(artifact: str) -> lightgbm.Booster:
    """Parse a stored LightGBM text model (never pickle)."""
    return lightgbm.Booster(model_str=artifact)


def probe_artifact(artifact: str, rows: np.ndarray, timeout_s: float = 300) -> np.ndarray:
    """Predictions of ``artifact`` on ``rows``, computed in a child process.

    The parse runs in :mod:`forecasting.artifact_check`: LightGBM aborts the process
    on some malformed texts, and that must not take down a training task or a
    serving worker. Raises :class:`ArtifactError` with the reason otherwise.
    """
    payload = json.dumps({"artifact": artifact, "rows": np.asarray(rows, dtype=float).tolist()})
    try:
        child = subprocess.run(
            [sys.executable, "-m", "forecasting.artifact_check"],
            input=payload,
            capture_output=True,
            text=True,
            errors="replace",  # LightGBM may print bytes of the broken text it read
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise ArtifactError(f"stored artifact did not load within {timeout_s:.0f} s") from None
    if child.returncode != 0:
        lines = [line for line in child.stderr.strip().splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit code {child.returncode}"
        raise ArtifactError(f"stored artifact does not load: {detail[:300]}")
    return np.asarray(json.loads(child.stdout), dtype=float)


def same_predictions(a: np.ndarray, b: np.ndarray) -> bool:
    """The one tolerance for "this artifact predicts what the trained booster predicted"."""
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-9))


def check_artifact(
    artifact: str, rows: np.ndarray, expected: np.ndarray, timeout_s: float = 300
) -> str | None:
    """Why ``artifact`` is unusable, or None if it parses and predicts ``expected`` on ``rows``."""
    try:
        predictions = probe_artifact(artifact, rows, timeout_s)
    except ArtifactError as exc:
        return str(exc)
    if not same_predictions(predictions, np.asarray(expected, dtype=float)):
        return "stored artifact predicts differently from the trained model"
    return None
