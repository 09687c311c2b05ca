"""The Postgres database a benchmark runs in, created when missing: `make bench` runs on a fresh machine."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from forecasting.db import make_engine


def bench_engine(url: str) -> Engine:
    """An engine on ``url``'s database, created first if the server lacks it.

    Exits with one line naming the server and ``--database-url`` when no Postgres answers
    there, before the benchmark spends minutes generating its data.
    """
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        try:
            create_database_if_missing(engine)
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise SystemExit(
                f"no Postgres at {engine.url.host}:{engine.url.port or 5432} ({reason}); "
                "start one there or pass --database-url postgresql://user@host:port/database"
            ) from None
    return engine


def create_database_if_missing(engine: Engine) -> None:
    """CREATE DATABASE, from the server's ``postgres`` maintenance database, unless it exists."""
    maintenance = make_engine(engine.url.set(database="postgres"))
    try:
        with maintenance.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": engine.url.database}
            )
            if not found:
                conn.execute(text(f'CREATE DATABASE "{engine.url.database}"'))
    finally:
        maintenance.dispose()
