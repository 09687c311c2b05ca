"""SQLAlchemy 2.0 models of every table of the store (see DESIGN.md, Data model).

Two rules are defined here once: "the *current version of a series* is its one
non-expired version" (:func:`is_current`; a partial unique index makes "one" a
database guarantee on Postgres and SQLite alike) and "the *served version of a
model* is its newest ``ready`` version" (:func:`served_versions`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Subquery,
    Text,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAME_LENGTH = 200
# Ids and the columns referring to them: BIGINT on Postgres; on SQLite plain INTEGER, which is
# 64-bit there and keeps ``INTEGER PRIMARY KEY`` the rowid (autoincrement without a sequence).
ID = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    """Timestamps are stored as naive UTC on every backend."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dict[str, Any]: JSON}


class TimeSeries(Base):
    """A series to download: its unique name, its source and the source's parameters."""

    __tablename__ = "timeseries"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    versions: Mapped[list[TSVersion]] = relationship(back_populates="timeseries", passive_deletes=True)


class TSVersion(Base):
    """One consistent download history of a series.

    ``n_values``, ``first_time``, ``last_time`` and ``digest`` summarise the version's
    values so that a refresh can compare a new download without reading them back.
    """

    __tablename__ = "ts_version"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    timeseries_id: Mapped[int] = mapped_column(
        ID, ForeignKey("timeseries.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expired: Mapped[bool] = mapped_column(Boolean, default=False)
    n_values: Mapped[int] = mapped_column(Integer)
    first_time: Mapped[datetime] = mapped_column(DateTime)
    last_time: Mapped[datetime] = mapped_column(DateTime)
    digest: Mapped[int] = mapped_column(BigInteger)

    timeseries: Mapped[TimeSeries] = relationship(back_populates="versions")


MAX_ID = 2**63 - 1  # the largest id of either backend (see ID)


def possible_id(value: int) -> bool:
    """Whether ``value`` can be a row id at all; larger numbers overflow the database driver."""
    return 0 < value <= MAX_ID


def is_current(version: type[TSVersion] = TSVersion) -> ColumnElement[bool]:
    """The current version of a series is its non-expired one."""
    return ~version.expired


Index(
    "uq_ts_version_current",
    TSVersion.timeseries_id,
    unique=True,
    postgresql_where=is_current(),
    sqlite_where=is_current(),
)


class TSValue(Base):
    __tablename__ = "ts_value"

    version_id: Mapped[int] = mapped_column(
        ID, ForeignKey("ts_version.id", ondelete="CASCADE"), primary_key=True
    )
    time: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    value: Mapped[float] = mapped_column(Double)


class DataConfig(Base):
    """Which series a model learns from: targets to forecast, features to help."""

    __tablename__ = "data_config"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    members: Mapped[list[DataConfigSeries]] = relationship(
        back_populates="data_config", cascade="all, delete-orphan", passive_deletes=True
    )


class DataConfigSeries(Base):
    """A series' role in a data config; the primary key stops a series being both."""

    __tablename__ = "data_config_series"
    __table_args__ = (CheckConstraint("role IN ('target', 'feature')", name="role"),)

    data_config_id: Mapped[int] = mapped_column(
        ID, ForeignKey("data_config.id", ondelete="CASCADE"), primary_key=True
    )
    timeseries_id: Mapped[int] = mapped_column(
        ID, ForeignKey("timeseries.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))

    data_config: Mapped[DataConfig] = relationship(back_populates="members")
    timeseries: Mapped[TimeSeries] = relationship()


class PreprocessingConfig(Base):
    __tablename__ = "preprocessing_config"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MLConfig(Base):
    __tablename__ = "ml_config"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MLModel(Base):
    """A named combination of configs; configs in use cannot be deleted (RESTRICT)."""

    __tablename__ = "ml_model"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    ml_config_id: Mapped[int] = mapped_column(ID, ForeignKey("ml_config.id", ondelete="RESTRICT"), index=True)
    data_config_id: Mapped[int] = mapped_column(
        ID, ForeignKey("data_config.id", ondelete="RESTRICT"), index=True
    )
    preprocessing_config_id: Mapped[int] = mapped_column(
        ID, ForeignKey("preprocessing_config.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    ml_config: Mapped[MLConfig] = relationship()
    data_config: Mapped[DataConfig] = relationship()
    preprocessing_config: Mapped[PreprocessingConfig] = relationship()
    versions: Mapped[list[MLModelVersion]] = relationship(back_populates="model", passive_deletes=True)


MODEL_VERSION_STATUSES = ("training", "ready", "failed", "rejected")


class MLModelVersion(Base):
    """A model version: a ``training`` row while it trains, then its LightGBM text artifact and metadata."""

    __tablename__ = "ml_model_version"
    __table_args__ = (
        CheckConstraint("status IN ('training', 'ready', 'failed', 'rejected')", name="status"),
        Index("ix_ml_model_version_served", "model_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    model_id: Mapped[int] = mapped_column(ID, ForeignKey("ml_model.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="training")
    artifact: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    model: Mapped[MLModel] = relationship(back_populates="versions")


Index(  # one training per model at a time (forecasting.registry.training)
    "uq_ml_model_version_training",
    MLModelVersion.model_id,
    unique=True,
    postgresql_where=MLModelVersion.status == "training",
    sqlite_where=MLModelVersion.status == "training",
)


def served_versions(refused: Collection[int] = ()) -> Subquery:
    """``(model_id, version_id)`` of every model's served version: its newest ``ready`` one.

    ``refused``: versions a serving worker found it cannot load (their artifact is
    damaged); it then serves the newest ready version among the others.
    """
    ready = MLModelVersion.status == "ready"
    if refused:
        ready = ready & MLModelVersion.id.not_in(list(refused))
    ranked = (
        select(
            MLModelVersion.model_id,
            MLModelVersion.id.label("version_id"),
            func.row_number()
            .over(
                partition_by=MLModelVersion.model_id,
                order_by=(MLModelVersion.created_at.desc(), MLModelVersion.id.desc()),
            )
            .label("rank"),
        )
        .where(ready)
        .subquery()
    )
    return select(ranked.c.model_id, ranked.c.version_id).where(ranked.c.rank == 1).subquery("served")
