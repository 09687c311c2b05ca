"""The service as deployed, plus one benchmark-only route doing what the seed did per request.

``bench/serving_bench.py`` runs ``gunicorn 'bench.serving_app:create_app()'``. The app
is :func:`serving.create_app` unchanged (same middleware, metrics, error handlers),
with ``GET /bench/seed-style/<name>`` added: per request, the seed design's work,
read the served version (its artifact) and the data from the database, parse the
booster from its text, compute the forecast and serialise it, through the domain's
uncached :func:`forecasting.inference.forecast`. It is the baseline the cached
``/api/model/<name>/predict`` is compared with; it is never part of the service.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify

from forecasting.inference import forecast
from serving import context
from serving import create_app as create_service
from serving.settings import Settings

SEED_STYLE_PREFIX = "/bench/seed-style"

bp = Blueprint("bench_seed_style", __name__)


@bp.get("/<name>")
def seed_style(name: str):
    """Load the model version and the data, parse the booster and compute, on every request."""
    return jsonify(forecast(context.engine(), name))


def create_app(settings: Settings | None = None) -> Flask:
    """The service's app with the seed-style route; settings from the environment as usual."""
    app = create_service(settings)
    app.register_blueprint(bp, url_prefix=SEED_STYLE_PREFIX)
    return app
