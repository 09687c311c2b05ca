"""Database URL resolution and engine creation for Postgres and the embedded SQLite default.

The default store is one file in the user's data directory, whatever the working
directory (a relative default made every folder a store of its own).

SQLite is made safe for one writer and many readers: WAL journal, a busy timeout,
foreign keys on, and write transactions (:func:`writing`) opened with
``BEGIN IMMEDIATE`` so that two writers queue instead of one failing half way with
"database is locked"; reads begin deferred and never block a writer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_S = 60
POSTGRES_CONNECT_TIMEOUT_S = 5  # an unreachable server fails a request in seconds, not minutes


def default_store(environ: Mapping[str, str] | None = None) -> Path:
    """The embedded store's file: ``$XDG_DATA_HOME/forecasting/forecasting.db``.

    As the XDG spec says, an unset, empty or relative ``XDG_DATA_HOME`` means
    ``~/.local/share``; ``~`` is ``$HOME``.
    """
    env = os.environ if environ is None else environ
    data_home = env.get("XDG_DATA_HOME") or ""
    if not os.path.isabs(data_home):
        home = env.get("HOME") or str(Path.home())
        data_home = os.path.join(home, ".local", "share")
    return Path(data_home) / "forecasting" / "forecasting.db"


def database_url(override: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The store's URL: an override, else ``FORECASTING_DATABASE_URL``, else :func:`default_store`."""
    env = os.environ if environ is None else environ
    return override or env.get("FORECASTING_DATABASE_URL") or f"sqlite:///{default_store(env)}"


def shown(url: str | URL) -> str:
    """The URL as messages show it: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


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
