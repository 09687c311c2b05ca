"""The DAGs' connections: the store from ``forecasting_db`` (else the environment), Google's settings."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine

from forecasting.errors import InvalidInput
from forecasting.pipelines import GOOGLE_CONNECTION, STORE_CONNECTION
from forecasting.refresh import refresh
from forecasting.series import add_series
from forecasting.sources.csv_file import CsvSource
from forecasting.sources.csv_roots import CSV_ROOTS_SETTING, csv_roots

STORE_VAR = f"AIRFLOW_CONN_{STORE_CONNECTION.upper()}"
CSV_ROOTS_CONFIG = "AIRFLOW__FORECASTING__CSV_ROOTS"  # [forecasting] csv_roots
GOOGLE_VAR = f"AIRFLOW_CONN_{GOOGLE_CONNECTION.upper()}"


@pytest.fixture(autouse=True)
def no_connections(airflow_db, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither connection nor database URL set; plugins/ on sys.path, as Airflow puts it at import."""
    import airflow  # noqa: F401

    for name in (STORE_VAR, GOOGLE_VAR, "FORECASTING_DATABASE_URL", CSV_ROOTS_SETTING, CSV_ROOTS_CONFIG):
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


@pytest.fixture
def csv_series(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A csv series stored with the path of its file (defined where that file could be read)."""
    folder = tmp_path_factory.mktemp("data")
    path = folder / "clicks.csv"
    path.write_text("time,value\n2024-01-07,1\n2024-01-14,2\n")
    add_series(engine, "clicks", "csv", {"path": str(path)}, {"csv": CsvSource(csv_roots(str(folder)))})
    return folder


def test_the_refresh_task_reads_csv_files_under_the_configured_csv_roots(
    engine: Engine, csv_series: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecasting_airflow.connections import sources

    monkeypatch.setenv(CSV_ROOTS_CONFIG, str(csv_series))

    [result] = refresh(engine, sources=sources())

    assert (result.outcome, result.rows_added) == ("created", 2)


def test_forecasting_csv_roots_in_the_environment_wins_over_the_airflow_setting(
    engine: Engine, csv_series: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecasting_airflow.connections import sources

    monkeypatch.setenv(CSV_ROOTS_CONFIG, str(csv_series))
    monkeypatch.setenv(CSV_ROOTS_SETTING, str(tmp_path))

    [result] = refresh(engine, sources=sources())

    assert result.outcome == "error"
    assert result.error == (
        f"series 'clicks': {csv_series / 'clicks.csv'} is not inside the directories CSV files may be read "
        f"from (FORECASTING_CSV_ROOTS (or [forecasting] csv_roots): {tmp_path})"
    )


def test_without_csv_roots_the_refresh_task_reads_no_file_and_says_how_to_set_them(
    engine: Engine, csv_series: Path
) -> None:
    from forecasting_airflow.connections import sources

    [result] = refresh(engine, sources=sources())

    assert result.outcome == "error"
    assert "reading CSV files is turned off here: set FORECASTING_CSV_ROOTS (or [forecasting] csv_roots)" in (
        result.error
    )
