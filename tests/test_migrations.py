"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from forecasting import migrate
from forecasting.models import (
    Base,
    DataConfig,
    DataConfigSeries,
    MLConfig,
    MLModel,
    MLModelVersion,
    PreprocessingConfig,
    TimeSeries,
    TSValue,
    TSVersion,
)


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


def test_downgrade_and_upgrade_again_give_the_same_schema(engine: Engine) -> None:
    """Every migration's downgrade undoes it: down to the first schema and up again to head."""
    config = migrate._config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    migrate.upgrade(engine)
    test_migrated_schema_matches_the_models(engine)


BIG = 2**40  # beyond a 32-bit integer, as ids become after two billion rows (or a sequence's jump)


def test_ids_and_references_hold_64_bit_values(engine: Engine) -> None:
    """Every id and foreign key column is 64-bit: rows with ids beyond 2^31 are stored and joined."""
    day = datetime(2024, 1, 7)
    with engine.begin() as conn:
        conn.execute(insert(TimeSeries).values(id=BIG, name="a", source="sample", params={}))
        conn.execute(
            insert(TSVersion).values(
                id=BIG + 1, timeseries_id=BIG, n_values=1, first_time=day, last_time=day, digest=1
            )
        )
        conn.execute(insert(TSValue).values(version_id=BIG + 1, time=day, value=1.0))
        conn.execute(insert(DataConfig).values(id=BIG + 2, name="d"))
        conn.execute(
            insert(DataConfigSeries).values(data_config_id=BIG + 2, timeseries_id=BIG, role="target")
        )
        conn.execute(insert(MLConfig).values(id=BIG + 3, name="m", params={}))
        conn.execute(insert(PreprocessingConfig).values(id=BIG + 4, name="p", params={}))
        conn.execute(
            insert(MLModel).values(
                id=BIG + 5,
                name="f",
                ml_config_id=BIG + 3,
                data_config_id=BIG + 2,
                preprocessing_config_id=BIG + 4,
            )
        )
        conn.execute(insert(MLModelVersion).values(id=BIG + 6, model_id=BIG + 5, status="ready", meta={}))
        joined = conn.execute(
            select(MLModelVersion.id, TSValue.version_id)
            .join(MLModel, MLModel.id == MLModelVersion.model_id)
            .join(DataConfigSeries, DataConfigSeries.data_config_id == MLModel.data_config_id)
            .join(TSVersion, TSVersion.timeseries_id == DataConfigSeries.timeseries_id)
            .join(TSValue, TSValue.version_id == TSVersion.id)
        ).one()
    assert tuple(joined) == (BIG + 6, BIG + 1)


def test_postgres_id_sequences_are_64_bit(pg_engine: Engine) -> None:
    """A sequence past 2^31 keeps numbering (a 32-bit sequence stops at its maximum)."""
    with pg_engine.begin() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('timeseries', 'id'), :v)"), {"v": BIG})
        new_id = conn.scalar(
            insert(TimeSeries).values(name="a", source="sample", params={}).returning(TimeSeries.id)
        )
        types = set(conn.scalars(text("SELECT data_type FROM information_schema.sequences")))
    assert new_id == BIG + 1
    assert types == {"bigint"}
