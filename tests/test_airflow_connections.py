"""The DAGs' connections: the store from ``forecasting_db`` (else the environment), Google's settings."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from forecasting.errors import InvalidInput
from forecasting.pipelines import GOOGLE_CONNECTION, STORE_CONNECTION

STORE_VAR = f"AIRFLOW_CONN_{STORE_CONNECTION.upper()}"
GOOGLE_VAR = f"AIRFLOW_CONN_{GOOGLE_CONNECTION.upper()}"


@pytest.fixture(autouse=True)
def no_connections(airflow_db, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither connection nor database URL set; plugins/ on sys.path, as Airflow puts it at import."""
    import airflow  # noqa: F401

    for name in (STORE_VAR, GOOGLE_VAR, "FORECASTING_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_store_comes_from_the_forecasting_db_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecasting_airflow.connections import store

    monkeypatch.setenv("FORECASTING_DATABASE_URL", "sqlite:////tmp/not-this-one.db")
    monkeypatch.setenv(STORE_VAR, "postgresql://forecaster:s3cret@db.example:6543/store")

    with store() as engine:
        url = engine.url

    assert url.render_as_string(hide_password=False) == (
        "postgresql+psycopg://forecaster:s3cret@db.example:6543/store"
    )


def test_without_the_connection_the_store_is_forecasting_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from forecasting_airflow.connections import store

    monkeypatch.setenv("FORECASTING_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")

    with store() as engine:
        assert engine.url.database == str(tmp_path / "store.db")


def test_google_settings_come_from_the_connection_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecasting_airflow.connections import GoogleTrendsHook

    extras = {
        "hl": "de-DE",
        "tz": "60",
        "geo": "DE",
        "retries": 2,
        "backoff": "5",
        "proxies": ["https://p:8"],
    }
    monkeypatch.setenv(GOOGLE_VAR, json.dumps({"conn_type": "generic", "extra": extras}))

    (source,) = GoogleTrendsHook().sources().values()

    settings = source.settings
    assert (settings.hl, settings.tz, settings.geo) == ("de-DE", 60, "DE")
    assert (settings.retries, settings.backoff, settings.proxies) == (2, 5.0, ("https://p:8",))


def test_a_bad_extra_names_the_connection_and_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecasting_airflow.connections import GoogleTrendsHook

    monkeypatch.setenv(GOOGLE_VAR, json.dumps({"conn_type": "generic", "extra": {"retires": 3}}))

    with pytest.raises(
        InvalidInput, match=r"connection 'google_trends': unknown google_trends setting\(s\) retires"
    ):
        GoogleTrendsHook().settings()


def test_without_the_connection_google_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from forecasting_airflow.connections import GoogleTrendsHook

    monkeypatch.setenv("FORECASTING_GOOGLE_TRENDS_RETRIES", "9")

    assert GoogleTrendsHook().settings().retries == 9


def test_a_missed_deadline_is_logged_as_an_error_naming_the_run(caplog: pytest.LogCaptureFixture) -> None:
    from forecasting_airflow.alerts import run_overdue

    context = {
        "dag_run": {"dag_id": "refresh_trends", "dag_run_id": "scheduled__2026-11-23", "state": "running"},
        "deadline": {"deadline_time": "2026-11-23T12:00:00+00:00"},
    }
    with caplog.at_level(logging.ERROR):
        message = asyncio.run(run_overdue(context=context))

    assert "refresh_trends run scheduled__2026-11-23" in message and "2026-11-23T12:00:00" in message
    assert [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR] == [message]
