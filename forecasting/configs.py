"""Configs and models: validation, create, delete, lookup.

Each kind of config has one validator here; the CLI, ``apply``, the service and the
DAGs all go through it, so a config that passes one entry point passes them all.
Errors name the config and the bad key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Select, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from forecasting.catalog import PARAMS_TABLES
from forecasting.config_inputs import DataConfigMembers, PreprocessingInput, parse
from forecasting.db import writing
from forecasting.errors import Conflict, InvalidInput, NotFound, shown
from forecasting.inputs import check_json
from forecasting.models import (
    DataConfig,
    DataConfigSeries,
    MLConfig,
    MLModel,
    PreprocessingConfig,
    TimeSeries,
)
from forecasting.series import require_known, validate_name


@dataclass(frozen=True)
class PreprocessingParams:
    """Validated preprocessing params (DESIGN.md, Features).

    ``horizon`` is an int or a list; ``horizons`` is always the sorted tuple.
    ``include_lag_0`` (an extra, default false) adds lag 0, the value at the forecast
    origin itself, to each non-empty lag list: with lags >= 1 alone (the seed's
    meaning) the newest observed week is never a feature.
    ``horizons_per_origin`` (an extra, default all) keeps each training origin for
    that many of the horizons, drawn at random with a fixed seed: training on
    ``n`` of ``H`` horizons costs ``n/H`` of the stacked matrix.
    """

    horizons: tuple[int, ...]
    target_lags: tuple[int, ...]
    feature_lags: tuple[int, ...]
    multi_horizon: bool
    horizons_per_origin: int | None = None
    include_lag_0: bool = False

    @property
    def used_target_lags(self) -> tuple[int, ...]:
        """The target lags that become columns (lag 0 added when asked for)."""
        return (0, *self.target_lags) if self.include_lag_0 and self.target_lags else self.target_lags

    @property
    def used_feature_lags(self) -> tuple[int, ...]:
        return (0, *self.feature_lags) if self.include_lag_0 and self.feature_lags else self.feature_lags

    def as_params(self) -> dict[str, Any]:
        """The params in the stored form (what a config file would say)."""
        params: dict[str, Any] = {
            "horizon": list(self.horizons) if self.multi_horizon else self.horizons[0],
            "target_lags": list(self.target_lags),
            "feature_lags": list(self.feature_lags),
        }
        if self.include_lag_0:
            params["include_lag_0"] = True
        if self.horizons_per_origin is not None:
            params["horizons_per_origin"] = self.horizons_per_origin
        return params


def preprocessing_params(params: Mapping[str, Any], name: str = "") -> PreprocessingParams:
    """Validate preprocessing params by their schema (:class:`PreprocessingInput`)."""
    config = f"preprocessing config {name!r}" if name else "preprocessing config"
    check_json(f"{config}: params", params)
    given = parse(PreprocessingInput, _plain(params), config, root="params")
    return PreprocessingParams(
        tuple(sorted(given.horizons)),
        tuple(sorted(given.target_lags)),
        tuple(sorted(given.feature_lags)),
        multi_horizon=isinstance(given.horizon, list),
        horizons_per_origin=given.horizons_per_origin,
        include_lag_0=given.include_lag_0,
    )


def _plain(params: Any) -> Any:
    """A mapping as the dict the schemas read (strict: they take dicts only)."""
    return dict(params) if isinstance(params, Mapping) else params


def ml_params(params: Mapping[str, Any], name: str = "", *, n_features: int | None = None) -> dict[str, Any]:
    """Validate ML params, the keyword arguments of ``LGBMRegressor``; returns them unchanged.

    The one check of ML params: saving a config (CLI, ``apply``, REST API) and every fit go
    through it. Keys are LightGBM's parameters and aliases as the installed LightGBM lists
    them, values have the type LightGBM reads them as, and a tiny fit succeeds (with
    ``n_features`` columns when the fit's are known), so a bad value fails when the config
    is saved rather than at the first training run
    (:func:`forecasting.lightgbm_params.check`). Errors name the config, the parameter and
    the value; none of LightGBM's own output reaches stderr.
    """
    config = f"ml config {name!r}" if name else "ml config"
    check_json(f"{config}: params", params)
    from forecasting.lightgbm_params import check  # LightGBM loads only when ML params are checked

    try:
        check(params, n_features)
    except InvalidInput as exc:
        raise InvalidInput(f"{config}: {exc}") from None
    return dict(params)


@dataclass(frozen=True)
class ModelSpec:
    """A model with everything training and inference need from its configs."""

    id: int
    name: str
    ml_config: str
    data_config: str
    preprocessing_config: str
    data_config_id: int
    ml_params: dict[str, Any]
    preprocessing: PreprocessingParams

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ml_config": self.ml_config,
            "data_config": self.data_config,
            "preprocessing_config": self.preprocessing_config,
            "ml_params": self.ml_params,
            "preprocessing": self.preprocessing.as_params(),
        }


def models_with_configs() -> Select:
    """Models joined to their three configs, by name: the base of every model read."""
    return (
        select(
            MLModel.id,
            MLModel.name,
            MLConfig.name.label("ml_config"),
            DataConfig.name.label("data_config"),
            PreprocessingConfig.name.label("preprocessing_config"),
        )
        .join(MLConfig, MLConfig.id == MLModel.ml_config_id)
        .join(DataConfig, DataConfig.id == MLModel.data_config_id)
        .join(PreprocessingConfig, PreprocessingConfig.id == MLModel.preprocessing_config_id)
    )


def get_model(conn: Connection, name: str) -> ModelSpec:
    """One SELECT for a model and its three configs."""
    row = conn.execute(
        models_with_configs()
        .add_columns(
            MLConfig.params.label("ml_params"),
            DataConfig.id.label("data_config_id"),
            PreprocessingConfig.params.label("preprocessing_params"),
        )
        .where(MLModel.name == name)
    ).one_or_none()
    if row is None:
        raise NotFound(f"unknown model: {name}")
    return ModelSpec(
        id=row.id,
        name=row.name,
        ml_config=row.ml_config,
        data_config=row.data_config,
        preprocessing_config=row.preprocessing_config,
        data_config_id=row.data_config_id,
        ml_params=dict(row.ml_params),
        preprocessing=preprocessing_params(row.preprocessing_params, row.preprocessing_config),
    )


def model_series(conn: Connection, model: str) -> list[str]:
    """Names of the series a model's data config uses, in one SELECT."""
    rows = conn.execute(
        select(MLModel.id, TimeSeries.name)
        .select_from(MLModel)
        .outerjoin(DataConfigSeries, DataConfigSeries.data_config_id == MLModel.data_config_id)
        .outerjoin(TimeSeries, TimeSeries.id == DataConfigSeries.timeseries_id)
        .where(MLModel.name == model)
        .order_by(TimeSeries.name)
    ).all()
    if not rows:
        raise NotFound(f"unknown model: {model}")
    return [row.name for row in rows if row.name is not None]


def data_config_members(targets: Sequence[str], features: Sequence[str], name: str = "") -> dict[str, str]:
    """Series name → role, by the schema of data config members (:class:`DataConfigMembers`)."""
    config = f"data config {name!r}" if name else "data config"
    members = {"targets": _listed(targets), "features": _listed(features)}
    return parse(DataConfigMembers, members, config).roles()


def _listed(names: Any) -> Any:
    """A tuple of names as the list the schema reads (a text stays a text, which it refuses)."""
    return list(names) if isinstance(names, tuple) else names


def series_ids(conn: Connection, names: Sequence[str]) -> dict[str, int]:
    """Ids of the named series; unknown names fail together in one message."""
    rows = conn.execute(select(TimeSeries.name, TimeSeries.id).where(TimeSeries.name.in_(list(names)))).all()
    found = {row.name: row.id for row in rows}
    require_known("series", names, found)
    return found


def models_to_train(
    conn: Connection, names: Sequence[str] = (), changed_series: Sequence[str] | None = None
) -> list[str]:
    """The models a retrain covers, by name; one SELECT.

    Named models (unknown names fail), else the models whose data config uses a
    changed series when the retrain follows a data change, else every model.
    """
    stmt = select(MLModel.name).distinct().order_by(MLModel.name)
    if names:
        found = conn.execute(stmt.where(MLModel.name.in_(list(names)))).scalars().all()
        require_known("model", names, found)
        return list(found)
    if changed_series is not None:
        stmt = (
            stmt.join(DataConfigSeries, DataConfigSeries.data_config_id == MLModel.data_config_id)
            .join(TimeSeries, TimeSeries.id == DataConfigSeries.timeseries_id)
            .where(TimeSeries.name.in_(list(changed_series)))
        )
    return list(conn.execute(stmt).scalars())


# Creation and deletion -------------------------------------------------------------


def validate_params(kind: str, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The one validator of a params config of ``kind``; returns the params to store."""
    if kind == "preprocessing_config":
        preprocessing_params(params, name)
        return dict(params)
    return ml_params(params, name)


def create_params_config(engine: Engine, kind: str, name: str, params: Mapping[str, Any]) -> None:
    """Create a preprocessing or ML config after validating its params."""
    table = PARAMS_TABLES[kind]
    validate_name(kind.replace("_", " "), name)
    clean = validate_params(kind, name, params)
    with _creating(kind, name), writing(engine) as conn:
        _refuse_existing(conn, table, kind, name)
        conn.execute(insert(table).values(name=name, params=clean))


def create_data_config(engine: Engine, name: str, targets: Sequence[str], features: Sequence[str]) -> None:
    validate_name("data config", name)
    roles = data_config_members(targets, features, name)
    with _creating("data_config", name), writing(engine) as conn:
        _refuse_existing(conn, DataConfig, "data_config", name)
        ids = series_ids(conn, list(roles))
        config_id = conn.scalar(insert(DataConfig).values(name=name).returning(DataConfig.id))
        conn.execute(
            insert(DataConfigSeries),
            [{"data_config_id": config_id, "timeseries_id": ids[s], "role": r} for s, r in roles.items()],
        )


def create_model(
    engine: Engine, name: str, *, ml_config: str, data_config: str, preprocessing_config: str
) -> None:
    validate_name("model", name)
    with _creating("model", name), writing(engine) as conn:
        _refuse_existing(conn, MLModel, "model", name)
        conn.execute(
            insert(MLModel).values(
                name=name, **model_config_ids(conn, ml_config, data_config, preprocessing_config)
            )
        )


def model_config_ids(
    conn: Connection, ml_config: str, data_config: str, preprocessing_config: str
) -> dict[str, int]:
    """The config ids a model row needs, resolved by name in one SELECT."""
    ml, data, prep = aliased(MLConfig), aliased(DataConfig), aliased(PreprocessingConfig)
    row = conn.execute(
        select(
            select(ml.id).where(ml.name == ml_config).scalar_subquery().label("ml_config_id"),
            select(data.id).where(data.name == data_config).scalar_subquery().label("data_config_id"),
            select(prep.id)
            .where(prep.name == preprocessing_config)
            .scalar_subquery()
            .label("preprocessing_config_id"),
        )
    ).one()
    missing = [
        f"{kind} {shown(value)}"
        for kind, value, found in (
            ("ml config", ml_config, row.ml_config_id),
            ("data config", data_config, row.data_config_id),
            ("preprocessing config", preprocessing_config, row.preprocessing_config_id),
        )
        if found is None
    ]
    if missing:
        raise NotFound(f"unknown {', '.join(missing)}")
    return row._asdict()


def delete_config(engine: Engine, kind: str, name: str) -> None:
    """Delete a config or model; a config still used by a model is refused (409)."""
    table = {**PARAMS_TABLES, "data_config": DataConfig, "model": MLModel}[kind]
    with writing(engine) as conn:
        config_id = conn.scalar(select(table.id).where(table.name == name))
        if config_id is None:
            raise NotFound(f"unknown {kind.replace('_', ' ')}: {name}")
        if kind != "model":
            column = getattr(MLModel, f"{kind}_id")
            users = conn.scalars(select(MLModel.name).where(column == config_id).order_by(MLModel.name)).all()
            if users:
                raise Conflict(f"{kind.replace('_', ' ')} {name!r} is used by model(s): {', '.join(users)}")
        try:
            conn.execute(delete(table).where(table.id == config_id))
        except IntegrityError as exc:
            raise Conflict(f"{kind.replace('_', ' ')} {name!r} is in use") from exc


@contextmanager
def _creating(kind: str, name: str) -> Iterator[None]:
    """A concurrent create of the same name loses the unique-index race: report it as a conflict."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"{kind.replace('_', ' ')} {name!r} already exists") from exc


def _refuse_existing(conn: Connection, table: type, kind: str, name: str) -> None:
    if conn.scalar(select(func.count()).select_from(table).where(table.name == name)):
        raise Conflict(f"{kind.replace('_', ' ')} {name!r} already exists")
