"""Liveness, readiness and metrics: what an orchestrator and a scraper ask."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from forecasting import migrate
from forecasting.registry import models_overview
from serving import context
from serving.apidoc import Answer, operation
from serving.schemas import Alive, Ready

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation("Liveness: the process answers", {200: Answer("Alive", Alive)})
def healthz():
    """The process answers; says nothing about the database."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@operation(
    "Readiness: the database is reachable and migrated; what each model serves",
    {200: Answer("Ready", Ready)},
    (503,),
)
def readyz():
    """The database is reachable and migrated; lists what each model serves."""
    engine = context.engine()
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        models = models_overview(conn)
    return jsonify(
        {
            "status": "ready",
            "models": [
                {"model": m["name"], "served_version": m["served_version"], "mase": m["mase"]} for m in models
            ],
            "worker": context.cache().status(),
        }
    )


@bp.get("/metrics")
@operation(
    "Prometheus metrics: request latency by route, served model version per model",
    {200: Answer("Prometheus text exposition", {"type": "string"}, "text/plain")},
)
def metrics():
    payload, content_type = current_app.extensions["forecasting"]["metrics"].exposition()
    return Response(payload, content_type=content_type)
