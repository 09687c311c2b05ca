"""Database URL resolution and engine creation for Postgres and the embedded SQLite default.

SQLite is made safe for one writer and many readers: WAL journal, a busy timeout,
foreign keys on, and write transactions (:func:`writing`) opened with
``BEGIN IMMEDIATE`` so that two writers queue instead of one failing half way with
"database is locked"; reads begin deferred and never block a writer.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

DEFAULT_DATABASE_URL = "sqlite:///var/forecasting.db"
SQLITE_BUSY_TIMEOUT_S = 60
POSTGRES_CONNECT_TIMEOUT_S = 5  # an unreachable server fails a request in seconds, not minutes


def database_url(override: str | None = None) -> str:
    """The store's URL: an explicit override, else ``FORECASTING_DATABASE_URL``, else SQLite."""
    return override or os.environ.get("FORECASTING_DATABASE_URL") or DEFAULT_DATABASE_URL


def normalise_url(url: str | URL) -> URL:
    """Use psycopg 3 for plain ``postgresql://`` URLs (the form Airflow connections give)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL | None = None) -> Engine:
    """An engine for the store at ``url`` (see :func:`database_url` for the default)."""
    parsed = normalise_url(url if url is not None else database_url())
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            parsed, pool_pre_ping=True, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin)
    return engine


def _configure_sqlite(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event decide when transactions start (pysqlite's own
    # implicit BEGIN would defer the write lock and cause upgrade deadlocks).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("writing", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writing(engine: Engine):
    """Begin a write transaction (on SQLite it takes the write lock up front)."""
    return engine.execution_options(writing=True).begin()


def is_postgres(engine_or_connection) -> bool:
    return engine_or_connection.dialect.name == "postgresql"
