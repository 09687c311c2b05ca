"""Database URL resolution and engine creation for Postgres and the embedded SQLite default.

The default store is one file in the user's data directory, whatever the working
directory (a relative default made every folder a store of its own).

SQLite is made safe for one writer and many readers: WAL journal, a busy timeout,
foreign keys on, and write transactions (:func:`writing`) opened with
``BEGIN IMMEDIATE`` so that two writers queue instead of one failing half way with
"database is locked"; reads begin deferred and never block a writer.

Postgres is given time limits (:class:`DatabaseTimeouts`), so that a server that stops
answering, or a network that drops packets, fails a caller in a bounded time instead
of holding it for the whole outage.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from forecasting.errors import InvalidInput

SQLITE_BUSY_TIMEOUT_S = 60
ANSWER_GRACE_S = 2.0  # past the server's statement timeout, the client stops waiting for its answer


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long a Postgres store may keep a caller waiting, in seconds (0: no limit).

    The defaults are the CLI's and the Airflow tasks': they do long legitimate work (a
    refresh's bulk load of a large panel, a migration, two refreshes of one series that
    queue on its row locks), so no statement or lock limit. The service's are
    :data:`SERVICE_TIMEOUTS`. ``FORECASTING_DB_*`` variables override either
    (:meth:`with_env`).

    - ``connect_s``: opening a connection, its startup and authentication included.
    - ``statement_s``, ``lock_s``: the server cancels a statement running, or waiting
      for a lock, longer; the client gives up waiting for any answer
      ``ANSWER_GRACE_S`` later (a server that does not answer at all sends no cancel).
    - ``idle_in_transaction_s``: the server ends a session idle inside a transaction
      this long (a stuck client must not hold locks for ever).
    - ``tcp_s``: TCP keepalives and ``tcp_user_timeout`` (Linux): a peer that stops
      acknowledging, or a network that drops everything, breaks the connection.
    - ``ping_s``: the check of a pooled connection before it is used.
    - ``fail_fast``: after a connection or statement found no answer, fail at once for
      a second, then let one caller at a time try again (not a variable: the service's
      threads must not all wait on a frozen database; see :mod:`forecasting.postgres`).
    """

    connect_s: float = 5.0
    statement_s: float = 0.0
    lock_s: float = 0.0
    idle_in_transaction_s: float = 600.0
    tcp_s: float = 60.0
    ping_s: float = 5.0
    fail_fast: bool = False

    @property
    def answer_s(self) -> float | None:
        """How long the client waits for any answer of the server (None: for ever)."""
        return self.statement_s + ANSWER_GRACE_S if self.statement_s else None

    def with_env(self, environ: Mapping[str, str] | None = None) -> DatabaseTimeouts:
        """These limits with the ones set by ``FORECASTING_DB_*_TIMEOUT`` variables (seconds)."""
        env = os.environ if environ is None else environ
        changed: dict[str, float] = {}
        for name, variable in TIMEOUT_VARIABLES.items():
            raw = env.get(variable)
            if raw in (None, ""):
                continue
            try:
                value = float(raw)
            except ValueError:
                raise InvalidInput(f"{variable}={raw!r} is not a number of seconds") from None
            if not 0 <= value < math.inf:
                raise InvalidInput(f"{variable}={raw!r} must be 0 (no limit) or a positive number of seconds")
            changed[name] = value
        return replace(self, **changed)


TIMEOUT_VARIABLES = {
    "connect_s": "FORECASTING_DB_CONNECT_TIMEOUT",
    "statement_s": "FORECASTING_DB_STATEMENT_TIMEOUT",
    "lock_s": "FORECASTING_DB_LOCK_TIMEOUT",
    "idle_in_transaction_s": "FORECASTING_DB_IDLE_IN_TRANSACTION_TIMEOUT",
    "tcp_s": "FORECASTING_DB_TCP_TIMEOUT",
    "ping_s": "FORECASTING_DB_PING_TIMEOUT",
}

SERVICE_TIMEOUTS = DatabaseTimeouts(
    connect_s=2.0,  # libpq's least
    statement_s=10.0,
    lock_s=5.0,
    idle_in_transaction_s=30.0,
    tcp_s=15.0,
    ping_s=0.5,
    fail_fast=True,
)


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


def make_engine(url: str | URL | None = None, timeouts: DatabaseTimeouts | None = None) -> Engine:
    """An engine for the store at ``url`` (see :func:`database_url` for the default).

    ``timeouts`` apply to Postgres; by default the CLI's, with ``FORECASTING_DB_*`` applied.
    """
    parsed = normalise_url(url if url is not None else database_url())
    if parsed.get_backend_name() != "sqlite":
        from forecasting.postgres import postgres_engine  # psycopg: only a Postgres store loads it

        return postgres_engine(parsed, timeouts or DatabaseTimeouts().with_env())
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
