"""Schema migrations (Alembic), run from code so the CLI needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from forecasting.db import writing
from forecasting.errors import DatabaseNotReady, DatabaseUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run again."""
    with writing(engine) as conn:
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    """The schema revision the database is at (None when never migrated)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        detail = str(exc.orig).strip().splitlines()[0]
        raise DatabaseUnavailable(f"cannot reach the database: {detail}") from None


def ensure_current(engine: Engine) -> None:
    """Fail with a clear message unless the schema is at the latest revision."""
    at = current(engine)
    if at != head():
        state = "has no schema" if at is None else f"is at schema revision {at}, not {head()}"
        raise DatabaseNotReady(f"the database {state}: run `forecasting db upgrade`")
