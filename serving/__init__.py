"""The forecasting web service: REST API, cached predictions, forecast pages.

``create_app()`` builds everything from the environment (:mod:`serving.settings`);
nothing is created at import. Runs without Airflow installed.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from forecasting.models import MAX_ID
from serving.settings import Settings

__all__ = ["add_routes", "close", "create_app"]


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number past the largest id matches nothing (404), as no row has it."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, *args, **{"max": MAX_ID, **kwargs})


def create_app(settings: Settings | None = None) -> Flask:
    """The WSGI app: ``gunicorn 'serving:create_app()'`` or ``forecasting serve``."""
    from forecasting.db import make_engine
    from serving import airflow_runs, errors
    from serving.cache import ForecastCache
    from serving.jsonio import JSONProvider, refuse_unstorable_path
    from serving.metrics import Metrics

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    engine = make_engine(settings.database_url, settings.db_timeouts)
    metrics = Metrics()
    app.extensions["forecasting"] = {
        "settings": settings,
        "engine": engine,
        "cache": ForecastCache(engine, settings.cache_ttl_s, on_served=metrics.served_version),
        "airflow": airflow_runs.client(settings),
        "metrics": metrics,
    }
    errors.register(app)
    app.before_request(refuse_unstorable_path)
    metrics.register(app)
    add_routes(app)
    return app


def add_routes(app: Flask) -> None:
    """Every route of the service (what ``/openapi.json`` describes); needs no database to be added."""
    from serving import api, apidoc, health, pages

    app.url_map.converters["int"] = IdConverter
    for module in (api, health, apidoc, pages):
        app.register_blueprint(module.bp)


def close(app: Flask) -> None:
    """Let background checks finish and close the database pool (a worker exits, a test ends)."""
    shared = app.extensions["forecasting"]
    shared["cache"].close()
    shared["engine"].dispose()
