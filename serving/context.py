"""The app's shared objects (engine, cache, settings), looked up from the current app."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import Engine

from serving.settings import Settings


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
