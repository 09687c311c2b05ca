"""Versions an interrupted training left in ``training`` become ``failed``.

Registration now happens in one transaction, so no new version can be left in
``training``; those an earlier release left behind (its process killed between
insert and check) are marked ``failed`` with the reason, so no reader waits on them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REASON = "left in training by an interrupted process (marked by migration 0002)"

versions = sa.table(
    "ml_model_version",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("metadata", sa.JSON),
)


def upgrade() -> None:
    conn = op.get_bind()
    orphaned = conn.execute(
        sa.select(versions.c.id, versions.c["metadata"]).where(versions.c.status == "training")
    ).all()
    for version_id, meta in orphaned:  # rare rows: one statement each keeps the JSON edit portable
        conn.execute(
            sa.update(versions)
            .where(versions.c.id == version_id)
            .values(status="failed", metadata={**(meta or {}), "status_reason": REASON})
        )


def downgrade() -> None:
    """Nothing to undo: a failed version stays failed."""
