"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect
from sqlalchemy.exc import IntegrityError

from forecasting import migrate
from forecasting.models import Base, TimeSeries, TSVersion


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert migrate.current(engine) == migrate.head()


def test_one_current_version_per_series_is_a_partial_unique_index(engine: Engine) -> None:
    [index] = [i for i in inspect(engine).get_indexes("ts_version") if i["name"] == "uq_ts_version_current"]
    assert index["unique"] and index["column_names"] == ["timeseries_id"]
    dialect_options = index.get("dialect_options", {})
    where = dialect_options.get("postgresql_where") or dialect_options.get("sqlite_where")
    assert where is not None and "expired" in str(where)


def test_upgrade_is_idempotent(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()


def test_the_database_refuses_a_second_current_version(engine: Engine) -> None:
    row = {"n_values": 1, "first_time": datetime(2024, 1, 7), "last_time": datetime(2024, 1, 7), "digest": 1}
    with engine.begin() as conn:
        series_id = conn.scalar(
            insert(TimeSeries).values(name="a", source="sample", params={}).returning(TimeSeries.id)
        )
        conn.execute(insert(TSVersion).values(timeseries_id=series_id, expired=True, **row))
        conn.execute(insert(TSVersion).values(timeseries_id=series_id, expired=False, **row))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(TSVersion).values(timeseries_id=series_id, expired=False, **row))
