"""``/api/model``: models, training, predictions (cached and what-if), versions, backtests."""

from __future__ import annotations

from typing import Any

import pandas as pd
from flask import Blueprint, Response, jsonify

from forecasting.configs import create_model, delete_config
from forecasting.pipelines import RETRAIN_DAG_ID, RETRAIN_MODELS_PARAM
from forecasting.registry import TrainingInProgress, model_versions, models_overview, version_record
from forecasting.training import train_model
from serving import context
from serving.apidoc import DAG_RUN_NOTE, Answer, operation
from serving.errors import error
from serving.schemas import (
    Backtest,
    BacktestQuery,
    CreateModel,
    DagRun,
    Forecast,
    Model,
    ModelVersion,
    Train,
    TrainingRunning,
    TrainResult,
    WhatIf,
)

bp = Blueprint("models", __name__)
MODEL = ("model", "sample-forecast")
FORECAST_ERRORS = (404, 409, 503)


def _overview(name: str) -> dict[str, Any]:
    with context.engine().connect() as conn:
        return models_overview(conn, name)[0]


@bp.get("/model")
@operation(
    "List every model with its served version and that version's MASE",
    {200: Answer("Every model", [Model])},
    (503,),
)
def list_models():
    """Every model with its served version and that version's MASE (one query)."""
    with context.engine().connect() as conn:
        return jsonify(models_overview(conn))


@bp.post("/model")
@operation(
    "Create a model from three configs (by name)",
    {201: Answer("The new model", Model)},
    (404, 409, 503),
    body=CreateModel,
    write=True,
)
def create(payload: CreateModel):
    create_model(
        context.engine(),
        payload.name,
        ml_config=payload.ml_config,
        data_config=payload.data_config,
        preprocessing_config=payload.preprocessing_config,
    )
    return jsonify(_overview(payload.name)), 201


@bp.get("/model/<name>")
@operation("One model", {200: Answer("The model", Model)}, (404, 503), name=MODEL)
def get(name: str):
    return jsonify(_overview(name))


@bp.delete("/model/<name>")
@operation(
    "Delete a model and all its versions", {204: Answer("Deleted")}, (404, 409, 503), name=MODEL, write=True
)
def delete(name: str):
    """Delete a model and all its versions."""
    delete_config(context.engine(), "model", name)
    return "", 204


@bp.post("/model/<name>/train")
@operation(
    f"Backtest, fit and register a new version. One training per model at a time. {DAG_RUN_NOTE}",
    {
        201: Answer("The registered version (ready, failed or rejected)", TrainResult),
        202: Answer(DAG_RUN_NOTE, DagRun),
        409: Answer("Another training of this model is running (its version and start)", TrainingRunning),
    },
    (404, 502, 503, 504),
    body=Train,
    body_required=False,
    name=MODEL,
    write=True,
)
def train(name: str, payload: Train):
    """Backtest, fit and register a version inline, or trigger the retrain DAG run (202).

    One training per model at a time: 409 naming the running version while another
    runs. Inline work stops with 504 when it would not finish within the request timeout.
    """
    _overview(name)  # 404 for an unknown model, before anything is triggered
    airflow = context.airflow()
    if airflow:
        return jsonify(airflow.trigger(RETRAIN_DAG_ID, {RETRAIN_MODELS_PARAM: [name]})), 202
    deadline = context.inline_deadline()
    try:
        result = train_model(
            context.engine(), name, windows=payload.windows, gate=payload.gate, deadline=deadline
        )
    except TrainingInProgress as exc:
        since = exc.since.isoformat() if exc.since else None
        return error(str(exc), 409, running_version=exc.version_id, since=since)
    context.cache().expire(name)  # this worker serves it from the next request; others within the TTL
    return jsonify(result.as_dict()), 201


@bp.get("/model/<name>/predict")
@operation(
    "The served version's forecast on the current data (cached per version and data)",
    {
        200: Answer(
            "The forecast",
            Forecast,
            headers={"X-Model-Version": {"schema": {"type": "integer"}, "required": True}},
        )
    },
    FORECAST_ERRORS,
    name=MODEL,
)
def predict(name: str):
    """The served version's forecast on the current data, computed once per (version, data)."""
    held = context.cache().get(name)
    response = Response(held.body, mimetype="application/json")
    response.headers["X-Model-Version"] = str(held.version.version_id)
    return response


@bp.post("/model/<name>/predict")
@operation(
    "A what-if forecast: the supplied history replaces the stored values of the series it names",
    {200: Answer("The forecast; supplied series have data version null", Forecast)},
    FORECAST_ERRORS,
    body=WhatIf,
    name=MODEL,
    write=True,
)
def predict_what_if(name: str, payload: WhatIf):
    """A forecast with supplied history (``{"history": [{series, time, value}, ...]}``)."""
    rows = [row.model_dump() for row in payload.history]
    return jsonify(context.cache().what_if(name, pd.DataFrame(rows)))


@bp.get("/model/<name>/versions")
@operation(
    "Every version of the model, newest first",
    {200: Answer("The versions", [ModelVersion])},
    (404, 503),
    name=MODEL,
)
def versions(name: str):
    with context.engine().connect() as conn:
        return jsonify(model_versions(conn, name))


@bp.get("/model/<name>/backtest")
@operation(
    "The backtest recorded with the served version (or with `?version=N`)",
    {200: Answer("The backtest", Backtest)},
    (404, 503),
    query=BacktestQuery,
    name=MODEL,
)
def backtest(name: str, query: BacktestQuery):
    """The backtest recorded with the served version (or ``?version=N``)."""
    with context.engine().connect() as conn:
        record = version_record(conn, name, query.version)
    return jsonify(
        {
            "model": name,
            "model_version": record["id"],
            "status": record["status"],
            "backtest": record["meta"].get("backtest"),
        }
    )
