"""Read views of configs: every listing is one SELECT, whatever the number of items.

The REST service lists and shows configs through these; the names of the models
using a config come with it, so a client sees why a delete would be refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from forecasting.errors import NotFound
from forecasting.models import (
    DataConfig,
    DataConfigSeries,
    MLConfig,
    MLModel,
    PreprocessingConfig,
    TimeSeries,
)

PARAMS_TABLES = {"preprocessing_config": PreprocessingConfig, "ml_config": MLConfig}


def params_configs(conn: Connection, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """Preprocessing or ML configs (one by ``name``, else all) with the models using them."""
    table = PARAMS_TABLES[kind]
    users = (
        select(
            getattr(MLModel, f"{kind}_id").label("config_id"),
            func.count().label("n_models"),
        )
        .group_by(getattr(MLModel, f"{kind}_id"))
        .subquery()
    )
    stmt = (
        select(
            table.name, table.params, table.created_at, func.coalesce(users.c.n_models, 0).label("n_models")
        )
        .outerjoin(users, users.c.config_id == table.id)
        .order_by(table.name)
    )
    if name is not None:
        stmt = stmt.where(table.name == name)
    rows = [row._asdict() for row in conn.execute(stmt)]
    if name is not None and not rows:
        raise NotFound(f"unknown {kind.replace('_', ' ')}: {name}")
    return rows


def data_configs(conn: Connection, name: str | None = None) -> list[dict[str, Any]]:
    """Data configs (one by ``name``, else all) with their targets and features, by name."""
    stmt = (
        select(DataConfig.name, DataConfig.created_at, TimeSeries.name.label("series"), DataConfigSeries.role)
        .outerjoin(DataConfigSeries, DataConfigSeries.data_config_id == DataConfig.id)
        .outerjoin(TimeSeries, TimeSeries.id == DataConfigSeries.timeseries_id)
        .order_by(DataConfig.name, TimeSeries.name)
    )
    if name is not None:
        stmt = stmt.where(DataConfig.name == name)
    configs: dict[str, dict[str, Any]] = {}
    for row in conn.execute(stmt):
        config = configs.setdefault(
            row.name, {"name": row.name, "created_at": row.created_at, "targets": [], "features": []}
        )
        if row.series is not None:
            config["targets" if row.role == "target" else "features"].append(row.series)
    if name is not None and not configs:
        raise NotFound(f"unknown data config: {name}")
    return list(configs.values())
