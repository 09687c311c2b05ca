"""Liveness, readiness and metrics: what an orchestrator and a scraper ask."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from forecasting import migrate
from forecasting.registry import models_overview
from serving import context

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers; says nothing about the database."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
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
def metrics():
    payload, content_type = current_app.extensions["forecasting"]["metrics"].exposition()
    return Response(payload, content_type=content_type)
