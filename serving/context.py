"""The app's shared objects (engine, cache, settings), looked up from the current app."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import Engine

from forecasting.deadline import Deadline
from forecasting.sources import DataSource
from serving.settings import REQUEST_TIMEOUT, Settings


def _get(name: str) -> Any:
    return current_app.extensions["forecasting"][name]


def engine() -> Engine:
    return _get("engine")


def settings() -> Settings:
    return _get("settings")


def cache():
    return _get("cache")


def airflow():
    """The Airflow client, or None when train/update run inline."""
    return _get("airflow")


def inline_deadline() -> Deadline:
    """When ``train`` or ``update-*`` work done inside this request must stop (no Airflow configured)."""
    limit = settings().request_timeout_s
    return Deadline(
        settings().inline_budget_s,
        f"work inside a request is bounded by {REQUEST_TIMEOUT} ({limit:g} s). Long work belongs to Airflow: "
        "with FORECASTING_AIRFLOW_URL, _USERNAME and _PASSWORD set, this route triggers its DAG run instead; "
        "or run it with the forecasting CLI",
    )


def inline_sources() -> dict[str, DataSource]:
    """Sources for downloads inside this request: no retry of Google's waits past its deadline."""
    from forecasting.sources.google_trends import GoogleTrendsSource

    return {"google_trends": GoogleTrendsSource(deadline=inline_deadline())}
