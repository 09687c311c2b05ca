"""Service configuration, read from the environment once when the app is built.

:class:`Settings` is a pydantic dataclass: its fields state every rule (bounds, types), so
the same rules hold for a Settings built in code, and ``TypeAdapter(Settings).json_schema()``
states them. :data:`ENVIRONMENT` maps each field to the variable it is read from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, InstanceOf, ValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails

from forecasting.db import SERVICE_TIMEOUTS, DatabaseTimeouts, database_url
from forecasting.errors import InvalidInput, shown
from forecasting.sources.csv_roots import CSV_ROOTS_SETTING

DEFAULT_CACHE_TTL_S = 30.0
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
REQUEST_TIMEOUT = "FORECASTING_REQUEST_TIMEOUT"
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # gunicorn's own default
# Longer inline work belongs to Airflow; nginx (deploy/nginx.conf) waits longer than this for an answer.
MAX_REQUEST_TIMEOUT_S = 240.0
INLINE_SHARE = 0.8  # of the request timeout, for inline work: the rest stores its result and answers

# Field → the variable it is read from; an empty variable counts as unset. The database URL
# (FORECASTING_DATABASE_URL, else the default store) and the FORECASTING_DB_* limits are read
# by forecasting.db, which the CLI and the DAGs share.
ENVIRONMENT = {
    "api_token": "FORECASTING_API_TOKEN",
    "cache_ttl_s": "FORECASTING_CACHE_TTL",
    "max_body_bytes": "FORECASTING_MAX_BODY_BYTES",
    "airflow_url": "FORECASTING_AIRFLOW_URL",
    "airflow_username": "FORECASTING_AIRFLOW_USERNAME",
    "airflow_password": "FORECASTING_AIRFLOW_PASSWORD",
    "airflow_ui_url": "FORECASTING_AIRFLOW_UI_URL",
    "request_timeout_s": REQUEST_TIMEOUT,
    "csv_roots": CSV_ROOTS_SETTING,
}
# What a variable must be, for the messages (the fields' bounds say the same).
_RULES = {
    "cache_ttl_s": "must not be negative",
    "max_body_bytes": "must not be negative",
    "request_timeout_s": (
        f"must be a positive number of seconds, at most {MAX_REQUEST_TIMEOUT_S:g} "
        "(longer work belongs to Airflow)"
    ),
}
_NOT_A_NUMBER = ("float_parsing", "int_parsing", "float_type", "int_type", "int_from_float")

Url = Annotated[str, AfterValidator(lambda url: url.rstrip("/") or None)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Settings:
    """Everything the service reads from its environment.

    ``airflow_url`` with credentials switches ``train`` and ``update-*`` from running
    inline to triggering the Airflow DAG run that does the same work.
    """

    database_url: str
    api_token: str | None = None
    cache_ttl_s: Annotated[float, Field(ge=0)] = DEFAULT_CACHE_TTL_S
    max_body_bytes: Annotated[int, Field(ge=0)] = DEFAULT_MAX_BODY_BYTES
    airflow_url: Url | None = None
    airflow_username: str | None = None
    airflow_password: str | None = None
    airflow_ui_url: Url | None = None  # where browsers reach Airflow, if not at airflow_url
    # gunicorn's timeout too (serving/gunicorn.conf.py reads the same variable)
    request_timeout_s: Annotated[float, Field(gt=0, le=MAX_REQUEST_TIMEOUT_S, allow_inf_nan=False)] = (
        DEFAULT_REQUEST_TIMEOUT_S
    )
    db_timeouts: InstanceOf[DatabaseTimeouts] = SERVICE_TIMEOUTS
    csv_roots: str | None = None  # where csv series may be read; unset: nowhere

    @property
    def uses_airflow(self) -> bool:
        return bool(self.airflow_url and self.airflow_username and self.airflow_password)

    @property
    def inline_budget_s(self) -> float:
        """How long ``train`` and ``update-*`` may work inside a request (no Airflow configured)."""
        return self.request_timeout_s * INLINE_SHARE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``environ`` (default ``os.environ``); a bad value is InvalidInput naming its
        variable."""
        env = os.environ if environ is None else environ
        given = {field: env[variable] for field, variable in ENVIRONMENT.items() if env.get(variable)}
        try:
            return cls(
                database_url=database_url(environ=env), db_timeouts=SERVICE_TIMEOUTS.with_env(env), **given
            )
        except ValidationError as exc:
            raise InvalidInput(_problem(exc.errors()[0])) from None


def _problem(error: ErrorDetails) -> str:
    """``VARIABLE='value' <what it must be>`` for a field's error."""
    field = str(error["loc"][0]) if error["loc"] else ""
    setting = f"{ENVIRONMENT.get(field, field)}={shown(error['input'])}"
    if error["type"] in _NOT_A_NUMBER:
        return f"{setting} is not a number"
    return f"{setting} {_RULES.get(field, error['msg'])}"
