"""Model versions: claim a training, register its result, look up, list.

One train per model at a time, across processes. A train first claims the model
(:func:`training`): it takes the model's training lock (a Postgres advisory lock held
by a session of its own, or an exclusive ``flock`` of a file beside a SQLite store) and
inserts its version as ``training``; a partial unique index lets the database hold one
such row per model. A second train meanwhile fails at once with
:class:`TrainingInProgress` (409 in the service), naming the running version and since
when. Both locks end with their process, so a train that was killed never blocks the
model: the next train takes the lock and marks the version the killed one left in
``training`` as ``failed``.

At the end the booster's text model and metadata are written into that row, read back
*from the database*, parsed in a child process and asked to predict the rows the
fitted booster predicted; only an identical answer makes it ``ready``. A version that
fails the check is kept as ``failed`` (with the reason), one that fails the optional
gate as ``rejected``; neither is ever served. A train that stops before registering
(an error, running out of time, an interrupt) deletes its row. The served version is
the one rule of :func:`models.served_versions`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from forecasting.configs import models_with_configs
from forecasting.db import is_postgres, writing
from forecasting.errors import Conflict, ForecastingError, NotFound
from forecasting.models import (
    MLModel,
    MLModelVersion,
    possible_id,
    served_versions,
)

log = logging.getLogger(__name__)

GATE_MASE = 1.0
ORPHANED = "its training process ended before registering it (killed?); found by the model's next training"


@dataclass(frozen=True)
class Claim:
    """A model claimed for one training: the version it will register into, and since when."""

    model: str
    model_id: int
    version_id: int
    started_at: datetime


class TrainingInProgress(Conflict):
    """Another process is training the model: one train per model at a time."""

    def __init__(self, model: str, version_id: int | None, since: datetime | None):
        running = (
            f"version {version_id}, since {since:%Y-%m-%d %H:%M:%S} UTC"
            if version_id is not None and since is not None
            else "its version is being created"
        )
        super().__init__(
            f"model {model!r} is already being trained ({running}); one training per model at a time: "
            f"wait for it to finish (`forecasting model-versions {model}` shows its status)"
        )
        self.model, self.version_id, self.since = model, version_id, since


@dataclass(frozen=True)
class Registered:
    version_id: int
    status: str
    reason: str | None


@contextmanager
def training(engine: Engine, model: str) -> Iterator[Claim]:
    """Claim ``model`` for one training until the block ends (see the module's docstring).

    Raises :class:`NotFound` for an unknown model and :class:`TrainingInProgress` while
    another process trains it. The block registers into the claim with :func:`register`;
    if it ends without doing so, its ``training`` row is deleted.
    """
    with engine.connect() as conn:
        model_id = conn.scalar(select(MLModel.id).where(MLModel.name == model))
    if model_id is None:
        raise NotFound(f"unknown model: {model}")
    with _training_lock(engine, model_id) as held:
        if not held:
            raise _in_progress(engine, model, model_id)
        claim = _claim(engine, model, model_id)
        try:
            yield claim
        finally:
            _unclaim(engine, claim)


@contextmanager
def _training_lock(engine: Engine, model_id: int) -> Iterator[bool]:
    """The model's training lock, if no live process holds it; yields whether this one does."""
    if is_postgres(engine):
        key = func.hashtextextended(f"forecasting train {model_id}", 0)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            held = bool(conn.scalar(select(func.pg_try_advisory_lock(key))))
            try:
                yield held
            finally:
                if held:
                    _unlock(conn, key)
        return
    database = engine.url.database
    if not database or database == ":memory:":  # no other process can open it
        yield True
        return
    descriptor = os.open(f"{database}-train-{model_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            held = False
        yield held
    finally:
        os.close(descriptor)  # releases the lock


def _unlock(conn: Connection, key) -> None:
    try:
        conn.scalar(select(func.pg_advisory_unlock(key)))
    except SQLAlchemyError:
        conn.invalidate()  # its session ends on the server, and the lock with it


def _in_progress(engine: Engine, model: str, model_id: int) -> TrainingInProgress:
    """The refusal naming the running version; it may take the holder of the lock a moment
    to commit that version, so it is looked for a little while."""
    for _ in range(20):
        with engine.connect() as conn:
            running = conn.execute(
                select(MLModelVersion.id, MLModelVersion.created_at)
                .where(MLModelVersion.model_id == model_id, MLModelVersion.status == "training")
                .order_by(MLModelVersion.id.desc())
                .limit(1)
            ).one_or_none()
        if running is not None:
            return TrainingInProgress(model, running.id, running.created_at)
        time.sleep(0.05)
    return TrainingInProgress(model, None, None)


def _claim(engine: Engine, model: str, model_id: int) -> Claim:
    """Mark what a dead training left in ``training`` failed, and insert this one's version."""
    try:
        with writing(engine) as conn:
            orphans = conn.execute(
                select(MLModelVersion.id, MLModelVersion.meta).where(
                    MLModelVersion.model_id == model_id, MLModelVersion.status == "training"
                )
            ).all()
            for version_id, meta in orphans:
                log.warning("model %r version %s: %s; marked failed", model, version_id, ORPHANED)
                conn.execute(
                    update(MLModelVersion)
                    .where(MLModelVersion.id == version_id)
                    .values(status="failed", meta={**meta, "status_reason": ORPHANED})
                )
            row = conn.execute(
                insert(MLModelVersion)
                .values(model_id=model_id, status="training", meta={})
                .returning(MLModelVersion.id, MLModelVersion.created_at)
            ).one()
    except IntegrityError:  # a process that trains without the lock (an older release) got there first
        raise _in_progress(engine, model, model_id) from None
    return Claim(model, model_id, row.id, row.created_at)


def _unclaim(engine: Engine, claim: Claim) -> None:
    """Delete the claim's version unless it was registered; if the database is gone, the next
    training marks it failed instead."""
    try:
        with writing(engine) as conn:
            conn.execute(
                delete(MLModelVersion).where(
                    MLModelVersion.id == claim.version_id, MLModelVersion.status == "training"
                )
            )
    except (SQLAlchemyError, ForecastingError) as exc:
        log.warning("model %r version %s stays in training: %s", claim.model, claim.version_id, exc)


def register(
    engine: Engine,
    claim: Claim,
    artifact: str,
    meta: dict[str, Any],
    check_rows: np.ndarray,
    expected: np.ndarray,
    *,
    gate: bool = False,
) -> Registered:
    """Store the claimed version; it becomes ``ready`` only if the stored artifact predicts ``expected``.

    With ``gate``, a version whose backtest MASE is >= 1 (no better than the seasonal
    naive forecast) is stored as ``rejected``.
    """
    from forecasting.estimator import check_artifact  # LightGBM: only registering needs it, not listings

    with writing(engine) as conn:
        stored = conn.scalar(
            _still_training(claim).values(artifact=artifact, meta=meta).returning(MLModelVersion.artifact)
        )
    if stored is None:
        raise _lost(claim)
    reason = check_artifact(stored, check_rows, expected)
    status = "failed" if reason else "ready"
    mase = (meta.get("backtest") or {}).get("mase")
    if status == "ready" and gate and mase is not None and mase >= GATE_MASE:
        status, reason = "rejected", f"backtest MASE {mase:.3f} >= {GATE_MASE} (gate)"
    with writing(engine) as conn:
        done = conn.execute(
            _still_training(claim).values(
                status=status, meta={**meta, "status_reason": reason} if reason else meta
            )
        )
    if done.rowcount != 1:
        raise _lost(claim)
    return Registered(claim.version_id, status, reason)


def _still_training(claim: Claim):
    return update(MLModelVersion).where(
        MLModelVersion.id == claim.version_id, MLModelVersion.status == "training"
    )


def _lost(claim: Claim) -> Conflict:
    return Conflict(
        f"model {claim.model!r} version {claim.version_id} is no longer in training: its training lock "
        "was lost (the database connection dropped?) and another training marked it failed; train again"
    )


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
