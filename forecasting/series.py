"""Series definitions and their read views: list, versions, values.

Every listing is one SELECT whatever the number of series (aggregates in the
database, not a query per row); the service and the CLI share these functions.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.orm import aliased

from forecasting.db import writing
from forecasting.errors import Conflict, InvalidInput, NotFound, listed, shown
from forecasting.inputs import check_json, check_text
from forecasting.models import (
    NAME_LENGTH,
    DataConfig,
    DataConfigSeries,
    TimeSeries,
    TSValue,
    TSVersion,
    is_current,
    possible_id,
)
from forecasting.sources import DataSource, SeriesSpec, get_source

# Fixed URL segments where a name would otherwise go (``/api/timeseries/update-all-values``): a
# name equal to one could not be addressed. tests/test_hostile_input.py derives them from the routes.
ROUTE_WORDS = frozenset({"update-all-values"})
_UNADDRESSABLE = ("/", "%")  # a path segment cannot hold "/"; "%" is decoded again by some proxies


def validate_name(kind: str, name: str) -> str:
    """The one rule for the names of series, configs and models, on every path (API, CLI, apply).

    A name is stored verbatim, quotes, markup, spaces inside and any script included, as
    long as a URL can address it: 1-NAME_LENGTH characters of storable text (no NUL, no lone
    surrogate), no control character, no "/" or "%", not "." or ".." (URLs resolve those),
    no leading or trailing whitespace (invisible, and lost by copy and paste), and not a
    fixed word of the service's URLs (:data:`ROUTE_WORDS`).
    """
    what = f"{kind} name"
    check_text(what, name)
    if not name or len(name) > NAME_LENGTH:
        problem = f"must be 1-{NAME_LENGTH} characters"
    elif name != name.strip():
        problem = "must not start or end with whitespace (surrounding spaces)"
    elif any(unicodedata.category(c) == "Cc" for c in name):
        problem = "must not hold control characters (tab, newline ...)"
    elif any(c in name for c in _UNADDRESSABLE) or name in (".", ".."):
        problem = "cannot be addressed in a URL: it must not hold '/' or '%', nor be '.' or '..'"
    elif name in ROUTE_WORDS:
        problem = "is a fixed word of the service's URLs; choose another"
    else:
        return name
    raise InvalidInput(f"{what} {shown(name)} {problem}")


def new_series_spec(
    name: str, source: str, params: Mapping[str, Any], sources: Mapping[str, DataSource] | None = None
) -> SeriesSpec:
    """A series definition, its name checked and its params validated by its source (from
    ``sources``, as the caller configured it, else with its default settings)."""
    validate_name("series", name)
    checked = get_source(source, sources).validate_params(name, params)
    return SeriesSpec(name=name, source=source, params=check_json(f"series {name!r}: params", checked))


def insert_series(conn: Connection, spec: SeriesSpec) -> SeriesSpec:
    """Insert ``spec`` in the caller's transaction; an existing name is a conflict."""
    if conn.scalar(select(TimeSeries.id).where(TimeSeries.name == spec.name)) is not None:
        raise Conflict(f"series {spec.name!r} already exists")
    series_id = conn.scalar(
        insert(TimeSeries)
        .values(name=spec.name, source=spec.source, params=spec.params)
        .returning(TimeSeries.id)
    )
    return SeriesSpec(name=spec.name, source=spec.source, params=spec.params, id=series_id)


def add_series(
    engine: Engine,
    name: str,
    source: str,
    params: Mapping[str, Any],
    sources: Mapping[str, DataSource] | None = None,
) -> SeriesSpec:
    """Define a series; the source validates and normalises its params first."""
    spec = new_series_spec(name, source, params, sources)
    with writing(engine) as conn:
        return insert_series(conn, spec)


def delete_series(engine: Engine, name: str) -> None:
    """Delete a series with all its versions; refused while a data config uses it."""
    with writing(engine) as conn:
        series_id = _series_id(conn, name)
        users = conn.scalars(
            select(DataConfig.name)
            .join(DataConfigSeries, DataConfigSeries.data_config_id == DataConfig.id)
            .where(DataConfigSeries.timeseries_id == series_id)
            .order_by(DataConfig.name)
        ).all()
        if users:
            raise Conflict(f"series {name!r} is used by data config(s): {', '.join(users)}")
        conn.execute(delete(TimeSeries).where(TimeSeries.id == series_id))


def series_specs(conn: Connection, names: Sequence[str] | None = None) -> list[SeriesSpec]:
    """The named series (all when ``names`` is None), in name order; unknown names fail."""
    stmt = select(TimeSeries.id, TimeSeries.name, TimeSeries.source, TimeSeries.params)
    if names is not None:
        stmt = stmt.where(TimeSeries.name.in_(list(names)))
    rows = conn.execute(stmt.order_by(TimeSeries.name)).all()
    if names is not None:
        require_known("series", names, {row.name for row in rows})
    return [SeriesSpec(name=r.name, source=r.source, params=r.params, id=r.id) for r in rows]


def require_known(kind: str, names: Sequence[str], found: Collection[str]) -> None:
    """Fail with every unknown name in one message (e.g. ``unknown series: a, b``)."""
    missing = sorted(set(names) - set(found))
    if missing:
        raise NotFound(f"unknown {kind}: {listed(missing)}")


SeriesState = tuple[int | None, int]


def series_states(conn: Connection, names: Sequence[str] | None = None) -> dict[str, SeriesState]:
    """Each series' (current version id, value count) by name, in name order; one SELECT.

    A refresh that changes a series changes its state (a new version its id, an append
    its count), so states taken before and after a run tell which series changed,
    however many attempts the run took.
    """
    stmt = (
        select(TimeSeries.name, TSVersion.id, TSVersion.n_values)
        .outerjoin(TSVersion, (TSVersion.timeseries_id == TimeSeries.id) & is_current())
        .order_by(TimeSeries.name)
    )
    if names is not None:
        stmt = stmt.where(TimeSeries.name.in_(list(names)))
    states = {row.name: (row.id, row.n_values or 0) for row in conn.execute(stmt)}
    if names is not None:
        require_known("series", names, states)
    return states


def series_overview(conn: Connection, name: str | None = None) -> list[dict[str, Any]]:
    """Every series (or the one named): current version statistics and version count; one SELECT."""
    current = aliased(TSVersion)
    counts = (
        select(TSVersion.timeseries_id, func.count().label("n_versions"))
        .group_by(TSVersion.timeseries_id)
        .subquery()
    )
    stmt = (
        select(
            TimeSeries.id,
            TimeSeries.name,
            TimeSeries.source,
            TimeSeries.params,
            current.id.label("current_version_id"),
            current.n_values,
            current.first_time,
            current.last_time,
            func.coalesce(counts.c.n_versions, 0).label("n_versions"),
        )
        .outerjoin(current, (current.timeseries_id == TimeSeries.id) & is_current(current))
        .outerjoin(counts, counts.c.timeseries_id == TimeSeries.id)
        .order_by(TimeSeries.name)
    )
    if name is not None:
        stmt = stmt.where(TimeSeries.name == name)
    rows = conn.execute(stmt).all()
    if name is not None and not rows:
        raise NotFound(f"unknown series: {name}")
    synthetic = {source: get_source(source).synthetic for source in {row.source for row in rows}}
    return [
        {**row._asdict(), "synthetic": synthetic[row.source], "n_values": row.n_values or 0} for row in rows
    ]


def list_versions(conn: Connection, name: str) -> list[dict[str, Any]]:
    """All versions of a series, oldest first; old versions are never deleted."""
    series_id = _series_id(conn, name)
    rows = conn.execute(
        select(TSVersion.id, TSVersion.created_at, TSVersion.expired, TSVersion.n_values)
        .where(TSVersion.timeseries_id == series_id)
        .order_by(TSVersion.created_at, TSVersion.id)
    )
    return [row._asdict() for row in rows]


def version_values(conn: Connection, name: str, version_id: int | None = None) -> tuple[int, pd.DataFrame]:
    """The id and ``time, value`` rows of a version of a series (its current one by default)."""
    series_id = _series_id(conn, name)
    if version_id is not None and not possible_id(version_id):
        raise NotFound(f"series {name!r} has no version {version_id}")
    version = select(TSVersion.id).where(TSVersion.timeseries_id == series_id)
    version = version.where(is_current()) if version_id is None else version.where(TSVersion.id == version_id)
    found = conn.scalar(version)
    if found is None:
        if version_id is None:
            raise NotFound(f"series {name!r} has no data yet: run `forecasting refresh {name}`")
        raise NotFound(f"series {name!r} has no version {version_id}")
    rows = conn.execute(
        select(TSValue.time, TSValue.value).where(TSValue.version_id == found).order_by(TSValue.time)
    ).all()
    return found, pd.DataFrame(rows, columns=["time", "value"])


def _series_id(conn: Connection, name: str) -> int:
    series_id = conn.scalar(select(TimeSeries.id).where(TimeSeries.name == name))
    if series_id is None:
        raise NotFound(f"unknown series: {name}")
    return series_id
