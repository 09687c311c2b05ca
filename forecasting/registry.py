"""Model versions: register (artifact and metadata in one transaction), look up, list.

A version is inserted as ``training``, its artifact read back *from the database*,
parsed in a child process and asked to predict the rows the fitted booster
predicted; only an identical answer makes it ``ready``. All of it is one
transaction: a process killed part way (a CLI interrupted, a serving worker or a
task killed) leaves no version at all, never one stuck in ``training`` (the
migration 0002 marks those an earlier release left behind as ``failed``). A version
that fails the check is kept as ``failed`` (with the reason), one that fails the
optional gate as ``rejected``; neither is ever served. The served version is the one rule of
:func:`models.served_versions`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, update

from forecasting.configs import models_with_configs
from forecasting.db import writing
from forecasting.errors import NotFound
from forecasting.models import (
    MLModel,
    MLModelVersion,
    possible_id,
    served_versions,
)

GATE_MASE = 1.0


@dataclass(frozen=True)
class Registered:
    version_id: int
    status: str
    reason: str | None


def register(
    engine: Engine,
    model_id: int,
    artifact: str,
    meta: dict[str, Any],
    check_rows: np.ndarray,
    expected: np.ndarray,
    *,
    gate: bool = False,
) -> Registered:
    """Store a new version; it becomes ``ready`` only if the stored artifact predicts ``expected``.

    With ``gate``, a version whose backtest MASE is >= 1 (no better than the seasonal
    naive forecast) is stored as ``rejected``.
    """
    from forecasting.estimator import check_artifact  # LightGBM: only registering needs it, not listings

    with writing(engine) as conn:
        version_id = conn.scalar(
            insert(MLModelVersion)
            .values(model_id=model_id, status="training", artifact=artifact, meta=meta)
            .returning(MLModelVersion.id)
        )
        stored = conn.scalar(select(MLModelVersion.artifact).where(MLModelVersion.id == version_id))
        reason = check_artifact(stored, check_rows, expected)
        status = "failed" if reason else "ready"
        mase = (meta.get("backtest") or {}).get("mase")
        if status == "ready" and gate and mase is not None and mase >= GATE_MASE:
            status, reason = "rejected", f"backtest MASE {mase:.3f} >= {GATE_MASE} (gate)"
        conn.execute(
            update(MLModelVersion)
            .where(MLModelVersion.id == version_id)
            .values(status=status, meta={**meta, "status_reason": reason} if reason else meta)
        )
    return Registered(version_id, status, reason)


@dataclass(frozen=True)
class ServedVersion:
    model: str
    data_config_id: int
    version_id: int
    created_at: Any
    artifact: str
    meta: dict[str, Any]


def mark_unloadable(engine: Engine, version_id: int, reason: str) -> None:
    """Record that a ``ready`` version's artifact does not load: it becomes ``failed``, with the reason.

    Whichever reader finds it (a serving worker, the CLI) writes it down, so every
    reader's served version (:func:`models.served_versions`) moves past it together.
    """
    with writing(engine) as conn:
        meta = conn.scalar(
            select(MLModelVersion.meta).where(
                MLModelVersion.id == version_id, MLModelVersion.status == "ready"
            )
        )
        if meta is not None:
            conn.execute(
                update(MLModelVersion)
                .where(MLModelVersion.id == version_id)
                .values(status="failed", meta={**meta, "status_reason": f"found unloadable: {reason}"})
            )


def served_version(conn: Connection, model: str, refused: Collection[int] = ()) -> ServedVersion:
    """The served version of ``model`` with its artifact, in one SELECT (see :func:`served_versions`)."""
    served = served_versions(refused)
    row = conn.execute(
        select(
            MLModel.name,
            MLModel.data_config_id,
            MLModelVersion.id,
            MLModelVersion.created_at,
            MLModelVersion.artifact,
            MLModelVersion.meta.label("meta"),
        )
        .select_from(MLModel)
        .outerjoin(served, served.c.model_id == MLModel.id)
        .outerjoin(MLModelVersion, MLModelVersion.id == served.c.version_id)
        .where(MLModel.name == model)
    ).one_or_none()
    if row is None:
        raise NotFound(f"unknown model: {model}")
    if row.id is None:
        raise NotFound(_no_served_version(conn, model))
    return ServedVersion(row.name, row.data_config_id, row.id, row.created_at, row.artifact, row.meta)


def _no_served_version(conn: Connection, model: str) -> str:
    """Why ``model`` has nothing to serve, naming its newest version's status and reason if any."""
    newest = conn.execute(
        select(MLModelVersion.id, MLModelVersion.status, MLModelVersion.meta.label("meta"))
        .join(MLModel, MLModel.id == MLModelVersion.model_id)
        .where(MLModel.name == model)
        .order_by(MLModelVersion.created_at.desc(), MLModelVersion.id.desc())
        .limit(1)
    ).one_or_none()
    advice = f"run `forecasting train {model}`"
    if newest is None:
        return f"model {model!r} has no ready version yet: {advice}"
    reason = newest.meta.get("status_reason")
    return (
        f"model {model!r} has no ready version: its newest, version {newest.id}, is {newest.status}"
        + (f" ({reason})" if reason else "")
        + f"; {advice}"
    )


def models_overview(conn: Connection, name: str | None = None) -> list[dict[str, Any]]:
    """Every model (or the one named): configs, served version, its MASE, version count; one SELECT."""
    served = served_versions()
    version = MLModelVersion.__table__.alias("served_version")
    counts = (
        select(MLModelVersion.model_id, func.count().label("n_versions"))
        .group_by(MLModelVersion.model_id)
        .subquery()
    )
    stmt = (
        models_with_configs()
        .add_columns(
            served.c.version_id.label("served_version"),
            version.c.created_at.label("served_created_at"),
            version.c["metadata"][("backtest", "mase")].as_float().label("mase"),
            func.coalesce(counts.c.n_versions, 0).label("n_versions"),
        )
        .outerjoin(served, served.c.model_id == MLModel.id)
        .outerjoin(version, version.c.id == served.c.version_id)
        .outerjoin(counts, counts.c.model_id == MLModel.id)
        .order_by(MLModel.name)
    )
    if name is not None:
        stmt = stmt.where(MLModel.name == name)
    rows = conn.execute(stmt).all()
    if name is not None and not rows:
        raise NotFound(f"unknown model: {name}")
    return [{k: v for k, v in row._asdict().items() if k != "id"} for row in rows]


def model_versions(conn: Connection, model: str) -> list[dict[str, Any]]:
    """Every version of ``model``, newest first, with status, served flag and key metadata; one SELECT."""
    served = served_versions()
    rows = conn.execute(
        select(
            MLModel.id.label("model_id"),
            MLModelVersion.id,
            MLModelVersion.created_at,
            MLModelVersion.status,
            (served.c.version_id.is_not(None)).label("served"),
            MLModelVersion.meta.label("meta"),
        )
        .select_from(MLModel)
        .outerjoin(MLModelVersion, MLModelVersion.model_id == MLModel.id)
        .outerjoin(served, served.c.version_id == MLModelVersion.id)
        .where(MLModel.name == model)
        .order_by(MLModelVersion.created_at.desc(), MLModelVersion.id.desc())
    ).all()
    if not rows:
        raise NotFound(f"unknown model: {model}")
    return [
        {
            "id": row.id,
            "created_at": row.created_at,
            "status": row.status,
            "served": bool(row.served),
            "mase": (row.meta.get("backtest") or {}).get("mase"),
            "rows": row.meta.get("rows"),
            "data_versions": row.meta.get("data_versions"),
            "reason": row.meta.get("status_reason"),
        }
        for row in rows
        if row.id is not None
    ]


def version_record(conn: Connection, model: str, version_id: int | None = None) -> dict[str, Any]:
    """One version of ``model`` (its served one by default) without the artifact; one SELECT."""
    served = served_versions()
    if version_id is None:
        wanted = served.c.version_id
    else:  # an impossible id would overflow the driver: look up 0, which no row has
        wanted = version_id if possible_id(version_id) else 0
    row = conn.execute(
        select(
            MLModel.id.label("model_id"),
            MLModelVersion.id,
            MLModelVersion.created_at,
            MLModelVersion.status,
            MLModelVersion.meta.label("meta"),
        )
        .select_from(MLModel)
        .outerjoin(served, served.c.model_id == MLModel.id)
        .outerjoin(MLModelVersion, (MLModelVersion.model_id == MLModel.id) & (MLModelVersion.id == wanted))
        .where(MLModel.name == model)
    ).one_or_none()
    if row is None:
        raise NotFound(f"unknown model: {model}")
    if row.id is None:
        if version_id is None:
            raise NotFound(_no_served_version(conn, model))
        raise NotFound(f"model {model!r} has no version {version_id}")
    return {"id": row.id, "created_at": row.created_at, "status": row.status, "meta": row.meta}
