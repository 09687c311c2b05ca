"""``/api/model``: models, training, predictions (cached and what-if), versions, backtests."""

from __future__ import annotations

from typing import Any

import pandas as pd
from flask import Blueprint, Response, jsonify, request

from forecasting.configs import create_model, delete_config
from forecasting.errors import InvalidInput
from forecasting.limits import DEFAULT_WINDOWS, MAX_WINDOWS
from forecasting.pipelines import RETRAIN_DAG_ID, RETRAIN_MODELS_PARAM
from forecasting.registry import TrainingInProgress, model_versions, models_overview, version_record
from forecasting.training import train_model
from serving import context
from serving.errors import error
from serving.jsonio import body, field, optional_body

bp = Blueprint("models", __name__)


def _overview(name: str) -> dict[str, Any]:
    with context.engine().connect() as conn:
        return models_overview(conn, name)[0]


@bp.get("/model")
def list_models():
    """Every model with its served version and that version's MASE (one query)."""
    with context.engine().connect() as conn:
        return jsonify(models_overview(conn))


@bp.post("/model")
def create():
    payload = body()
    name = field(payload, "name", str)
    create_model(
        context.engine(),
        name,
        ml_config=field(payload, "ml_config", str),
        data_config=field(payload, "data_config", str),
        preprocessing_config=field(payload, "preprocessing_config", str),
    )
    return jsonify(_overview(name)), 201


@bp.get("/model/<name>")
def get(name: str):
    return jsonify(_overview(name))


@bp.delete("/model/<name>")
def delete(name: str):
    """Delete a model and all its versions."""
    delete_config(context.engine(), "model", name)
    return "", 204


@bp.post("/model/<name>/train")
def train(name: str):
    """Backtest, fit and register a version inline, or trigger the retrain DAG run (202).

    One training per model at a time: 409 naming the running version while another
    runs. Inline work stops with 504 when it would not finish within the request timeout.
    """
    payload = optional_body()
    windows = field(payload, "windows", int, DEFAULT_WINDOWS)
    if not 0 <= windows <= MAX_WINDOWS:
        raise InvalidInput(f"field 'windows' must be between 0 and {MAX_WINDOWS}, got {windows}")
    gate = field(payload, "gate", bool, False)
    _overview(name)  # 404 for an unknown model, before anything is triggered
    airflow = context.airflow()
    if airflow:
        return jsonify(airflow.trigger(RETRAIN_DAG_ID, {RETRAIN_MODELS_PARAM: [name]})), 202
    deadline = context.inline_deadline()
    try:
        result = train_model(context.engine(), name, windows=windows, gate=gate, deadline=deadline)
    except TrainingInProgress as exc:
        since = exc.since.isoformat() if exc.since else None
        return error(str(exc), 409, running_version=exc.version_id, since=since)
    context.cache().expire(name)  # this worker serves it from the next request; others within the TTL
    return jsonify(result.as_dict()), 201


@bp.get("/model/<name>/predict")
def predict(name: str):
    """The served version's forecast on the current data, computed once per (version, data)."""
    held = context.cache().get(name)
    response = Response(held.body, mimetype="application/json")
    response.headers["X-Model-Version"] = str(held.version.version_id)
    return response


@bp.post("/model/<name>/predict")
def predict_what_if(name: str):
    """A forecast with supplied history (``{"history": [{series, time, value}, ...]}``)."""
    rows = field(body(), "history", list)
    if not rows or not all(isinstance(row, dict) and isinstance(row.get("series"), str) for row in rows):
        raise InvalidInput("field 'history' must be a non-empty list of {series, time, value} objects")
    return jsonify(context.cache().what_if(name, pd.DataFrame(rows)))


@bp.get("/model/<name>/versions")
def versions(name: str):
    with context.engine().connect() as conn:
        return jsonify(model_versions(conn, name))


@bp.get("/model/<name>/backtest")
def backtest(name: str):
    """The backtest recorded with the served version (or ``?version=N``)."""
    version = request.args.get("version", type=int)
    if "version" in request.args and version is None:
        raise InvalidInput("query parameter 'version' must be an integer")
    with context.engine().connect() as conn:
        record = version_record(conn, name, version)
    return jsonify(
        {
            "model": name,
            "model_version": record["id"],
            "status": record["status"],
            "backtest": record["meta"].get("backtest"),
        }
    )
