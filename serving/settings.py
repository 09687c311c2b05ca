"""Service configuration, read from the environment once when the app is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from forecasting.db import SERVICE_TIMEOUTS, DatabaseTimeouts, database_url
from forecasting.errors import InvalidInput
from forecasting.sources.csv_roots import CSV_ROOTS_SETTING

DEFAULT_CACHE_TTL_S = 30.0
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
REQUEST_TIMEOUT = "FORECASTING_REQUEST_TIMEOUT"
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # gunicorn's own default
# Longer inline work belongs to Airflow; nginx (deploy/nginx.conf) waits longer than this for an answer.
MAX_REQUEST_TIMEOUT_S = 240.0
INLINE_SHARE = 0.8  # of the request timeout, for inline work: the rest stores its result and answers


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment.

    ``airflow_url`` with credentials switches ``train`` and ``update-*`` from running
    inline to triggering the Airflow DAG run that does the same work.
    """

    database_url: str
    api_token: str | None = None
    cache_ttl_s: float = DEFAULT_CACHE_TTL_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    airflow_url: str | None = None
    airflow_username: str | None = None
    airflow_password: str | None = None
    airflow_ui_url: str | None = None  # where browsers reach Airflow, if not at airflow_url
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S  # FORECASTING_REQUEST_TIMEOUT, gunicorn's timeout
    db_timeouts: DatabaseTimeouts = SERVICE_TIMEOUTS
    csv_roots: str | None = None  # FORECASTING_CSV_ROOTS: where csv series may be read; unset: nowhere

    @property
    def uses_airflow(self) -> bool:
        return bool(self.airflow_url and self.airflow_username and self.airflow_password)

    @property
    def inline_budget_s(self) -> float:
        """How long ``train`` and ``update-*`` may work inside a request (no Airflow configured)."""
        return self.request_timeout_s * INLINE_SHARE

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=database_url(environ=env),
            api_token=env.get("FORECASTING_API_TOKEN") or None,
            cache_ttl_s=_number(env, "FORECASTING_CACHE_TTL", DEFAULT_CACHE_TTL_S, float),
            max_body_bytes=_number(env, "FORECASTING_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int),
            airflow_url=(env.get("FORECASTING_AIRFLOW_URL") or "").rstrip("/") or None,
            airflow_username=env.get("FORECASTING_AIRFLOW_USERNAME") or None,
            airflow_password=env.get("FORECASTING_AIRFLOW_PASSWORD") or None,
            airflow_ui_url=(env.get("FORECASTING_AIRFLOW_UI_URL") or "").rstrip("/") or None,
            request_timeout_s=request_timeout_s(env),
            db_timeouts=SERVICE_TIMEOUTS.with_env(env),
            csv_roots=env.get(CSV_ROOTS_SETTING) or None,
        )


def request_timeout_s(environ: Mapping[str, str] | None = None) -> float:
    """``FORECASTING_REQUEST_TIMEOUT``: gunicorn's worker timeout and the bound of inline work."""
    env = os.environ if environ is None else environ
    value = _number(env, REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT_S, float)
    if not 0 < value <= MAX_REQUEST_TIMEOUT_S:
        raise InvalidInput(
            f"{REQUEST_TIMEOUT} must be a positive number of seconds, at most {MAX_REQUEST_TIMEOUT_S:g} "
            "(longer work belongs to Airflow)"
        )
    return value


def _number(env, key: str, default, kind):
    raw = env.get(key)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidInput(f"{key}={raw!r} is not a number") from None
    if value < 0:
        raise InvalidInput(f"{key}={raw!r} must not be negative")
    return value
