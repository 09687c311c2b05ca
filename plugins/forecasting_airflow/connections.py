"""The forecasting store and the sources, configured by Airflow connections and ``[forecasting]``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, conf
from airflow.sdk.exceptions import AirflowNotFoundException

from forecasting.errors import InvalidInput
from forecasting.pipelines import GOOGLE_CONNECTION, STORE_CONNECTION

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from forecasting.sources import DataSource
    from forecasting.sources.csv_roots import CsvRoots
    from forecasting.sources.google_trends import GoogleTrendsSettings

CSV_ROOTS_SETTINGS = "FORECASTING_CSV_ROOTS (or [forecasting] csv_roots)"


@contextmanager
def store() -> Iterator[Engine]:
    """The store of connection ``forecasting_db`` (through the Postgres provider's hook).

    Without that connection: ``FORECASTING_DATABASE_URL``, else the embedded SQLite file.
    The engine is disposed of afterwards, so a finished task holds no connection.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from forecasting.db import make_engine

    try:
        url = PostgresHook(postgres_conn_id=STORE_CONNECTION).sqlalchemy_url
    except AirflowNotFoundException:
        url = None
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


class GoogleTrendsHook(BaseHook):
    """Google Trends settings from a connection's extras: hl, tz, geo, retries, backoff, proxies…

    A generic connection: the source needs no host or login, only these settings.
    Without the connection, ``FORECASTING_GOOGLE_TRENDS_*`` variables apply.
    """

    conn_name_attr = "google_trends_conn_id"
    default_conn_name = GOOGLE_CONNECTION
    conn_type = "generic"
    hook_name = "Google Trends"

    def __init__(self, google_trends_conn_id: str = GOOGLE_CONNECTION, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.google_trends_conn_id = google_trends_conn_id

    def settings(self) -> GoogleTrendsSettings:
        from forecasting.sources.google_trends import GoogleTrendsSettings

        try:
            extras = self.get_connection(self.google_trends_conn_id).extra_dejson
        except AirflowNotFoundException:
            return GoogleTrendsSettings.from_env()
        try:
            return GoogleTrendsSettings.from_mapping(extras)
        except InvalidInput as exc:
            raise InvalidInput(f"connection {self.google_trends_conn_id!r}: {exc}") from None

    def sources(self) -> dict[str, DataSource]:
        """Sources for :func:`forecasting.refresh.refresh`: Google Trends with these settings."""
        from forecasting.sources.google_trends import GoogleTrendsSource

        return {GoogleTrendsSource.name: GoogleTrendsSource(self.settings())}


def csv_roots() -> CsvRoots:
    """Where the tasks read CSV files: ``FORECASTING_CSV_ROOTS``, else ``[forecasting] csv_roots``
    (``AIRFLOW__FORECASTING__CSV_ROOTS``); unset, no file is read."""
    from forecasting.sources import csv_roots as roots

    value = os.environ.get(roots.CSV_ROOTS_SETTING) or conf.get("forecasting", "csv_roots", fallback=None)
    return roots.csv_roots(value, setting=CSV_ROOTS_SETTINGS)


def sources() -> dict[str, DataSource]:
    """The sources of a refresh task: Google Trends with its connection's settings, CSV files under
    :func:`csv_roots`."""
    from forecasting.sources.csv_file import CsvSource

    return {**GoogleTrendsHook().sources(), CsvSource.name: CsvSource(csv_roots())}
