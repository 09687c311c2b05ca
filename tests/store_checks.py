"""Helpers for store tests: build downloads, count statements, check invariants."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import Engine, event, func, insert, select, text

from forecasting.db import writing
from forecasting.digest import row_hashes
from forecasting.models import Base, MLModelVersion, TSValue, TSVersion, utcnow
from forecasting.series import add_series, insert_series, new_series_spec, series_specs, version_values
from forecasting.sources import SeriesSpec


def weekly(values: Sequence[float], start: str = "2024-01-07") -> pd.DataFrame:
    """A clean download: one row per week from ``start`` (a Sunday)."""
    times = pd.date_range(start, periods=len(values), freq="7D").astype("datetime64[us]")
    return pd.DataFrame({"time": times, "value": [float(v) for v in values]})


def define(engine: Engine, *names: str, source: str = "sample", params: dict | None = None) -> None:
    """Series without data yet, as the first refresh finds them; one transaction."""
    with writing(engine) as conn:
        for name in names:
            insert_series(conn, new_series_spec(name, source, params or {}))


def add_many(engine: Engine, names: Sequence[str]) -> list[SeriesSpec]:
    for name in names:
        add_series(engine, name, "sample", {})
    with engine.connect() as conn:
        return series_specs(conn, names)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs (executemany counts once)."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """The full content of every table, for before/after comparisons."""
    with engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def current_values(engine: Engine, name: str) -> list[tuple[str, float]]:
    with engine.connect() as conn:
        _, frame = version_values(conn, name)
    return [(t.strftime("%Y-%m-%d"), v) for t, v in zip(pd.to_datetime(frame["time"]), frame["value"])]


def assert_store_consistent(engine: Engine) -> None:
    """At most one current version per series; each version's summary matches its rows."""
    with engine.connect() as conn:
        duplicates = conn.execute(
            select(TSVersion.timeseries_id)
            .where(~TSVersion.expired)
            .group_by(TSVersion.timeseries_id)
            .having(func.count() > 1)
        ).all()
        assert duplicates == []
        versions = pd.DataFrame(
            conn.execute(
                select(
                    TSVersion.id,
                    TSVersion.n_values,
                    TSVersion.first_time,
                    TSVersion.last_time,
                    TSVersion.digest,
                )
            ).all(),
            columns=["id", "n_values", "first_time", "last_time", "digest"],
        ).set_index("id")
        values = pd.DataFrame(
            conn.execute(select(TSValue.version_id, TSValue.time, TSValue.value)).all(),
            columns=["version_id", "time", "value"],
        )
        assert conn.scalar(text("SELECT count(*) FROM ts_value")) == len(values)
    values["time"] = pd.to_datetime(values["time"])
    values["hash"] = row_hashes(values["time"], values["value"])
    actual = values.groupby("version_id").agg(
        n_values=("time", "size"),
        first_time=("time", "min"),
        last_time=("time", "max"),
        digest=("hash", "sum"),
    )
    expected = versions.assign(
        first_time=pd.to_datetime(versions["first_time"]), last_time=pd.to_datetime(versions["last_time"])
    )
    pd.testing.assert_frame_equal(
        actual.sort_index(), expected[actual.columns].sort_index(), check_dtype=False, check_names=False
    )


def add_corrupt_version(engine: Engine, version_id: int | None = None) -> int:
    """A newer ``ready`` version whose artifact is a version's text cut in half (the only one by default).

    Registration never makes such a version ready; this stands for a row damaged
    afterwards, which a serving worker must refuse to load.
    """
    with writing(engine) as conn:
        stmt = select(MLModelVersion.model_id, MLModelVersion.artifact, MLModelVersion.meta.label("meta"))
        good = conn.execute(stmt if version_id is None else stmt.where(MLModelVersion.id == version_id)).one()
        return conn.scalar(
            insert(MLModelVersion)
            .values(
                model_id=good.model_id,
                created_at=utcnow(),
                status="ready",
                artifact=good.artifact[: len(good.artifact) // 2],
                meta=good.meta,
            )
            .returning(MLModelVersion.id)
        )
