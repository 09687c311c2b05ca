"""Every error answers with the right status and its message: JSON ``{"error": "..."}``, except on
the forecast pages, which a browser opens (often from the index's links): there an HTML page says it.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from forecasting.deadline import DeadlineExceeded
from forecasting.errors import (
    ArtifactError,
    Conflict,
    DatabaseNotReady,
    DatabaseUnavailable,
    ForecastingError,
    InvalidInput,
    NotFound,
    SourceError,
)
from forecasting.sources.csv_roots import UnknownFile

log = logging.getLogger(__name__)

UNAVAILABLE = "database unavailable"
MESSAGE_LIMIT = 1000  # characters: messages quote values cut short already; this bounds any other

STATUS = {
    NotFound: 404,
    UnknownFile: 404,  # a CSV path naming no file that may be read: an unknown reference
    InvalidInput: 400,
    Conflict: 409,
    SourceError: 502,
    ArtifactError: 503,
    DatabaseNotReady: 503,
    DeadlineExceeded: 504,
}


class UpstreamError(Exception):
    """A service we call (Airflow's API) failed; answered with 502."""


def status_of(exc: ForecastingError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)


def error(message: str, status: int, **extra) -> Response:
    """The error as the route's clients read it: an HTML page on the pages, JSON elsewhere."""
    if len(message) > MESSAGE_LIMIT:
        message = f"{message[: MESSAGE_LIMIT - 1]}…"
    if request.blueprint == "pages":
        phrase = HTTP_STATUS_CODES.get(status, "Error")
        page = render_template("error.html", status=status, phrase=phrase, message=message)
        return Response(page, status=status, mimetype="text/html")
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ForecastingError)
    def domain(exc: ForecastingError):
        if isinstance(exc, DatabaseUnavailable):
            return unavailable(str(exc))
        return error(str(exc), status_of(exc))

    def unavailable(detail: str) -> Response:
        """503 for an unreachable database: callers learn that much, the log learns where."""
        log.warning("database unavailable: %s", detail)
        return error(UNAVAILABLE, 503)

    @app.errorhandler(UpstreamError)
    def upstream(exc: UpstreamError):
        return error(str(exc), 502)

    @app.errorhandler(HTTPException)
    def http(exc: HTTPException):
        response = error(exc.description or exc.name, exc.code or 500)
        for key, value in exc.get_headers():
            if key.lower() not in ("content-type", "content-length"):
                response.headers[key] = value
        return response

    @app.errorhandler(DBAPIError)
    def database(exc: DBAPIError):
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            text = str(exc.orig or exc).strip()
            return unavailable(text.splitlines()[0] if text else type(exc).__name__)
        log.exception("database error")
        return error("internal database error", 500)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error(f"internal error: {type(exc).__name__}", 500)
