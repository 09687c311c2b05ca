"""Service configuration, read from the environment once when the app is built."""

from __future__ import annotations

import os
from dataclasses import dataclass

from forecasting.db import SERVICE_TIMEOUTS, DatabaseTimeouts, database_url
from forecasting.errors import InvalidInput
from forecasting.sources.csv_roots import CSV_ROOTS_SETTING

DEFAULT_CACHE_TTL_S = 30.0
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


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
    db_timeouts: DatabaseTimeouts = SERVICE_TIMEOUTS
    csv_roots: str | None = None  # FORECASTING_CSV_ROOTS: where csv series may be read; unset: nowhere

    @property
    def uses_airflow(self) -> bool:
        return bool(self.airflow_url and self.airflow_username and self.airflow_password)

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
            db_timeouts=SERVICE_TIMEOUTS.with_env(env),
            csv_roots=env.get(CSV_ROOTS_SETTING) or None,
        )


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
