"""One training per model at a time: at most one version in ``training`` per model.

A train now inserts its version as ``training`` when it starts, under the model's
training lock (:func:`forecasting.registry.training`), and registers into that row at
the end; this partial unique index makes the database itself refuse a second one, on
Postgres and SQLite alike.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TRAINING = sa.text("status = 'training'")


def upgrade() -> None:
    op.create_index(
        "uq_ml_model_version_training",
        "ml_model_version",
        ["model_id"],
        unique=True,
        postgresql_where=TRAINING,
        sqlite_where=TRAINING,
    )


def downgrade() -> None:
    op.drop_index("uq_ml_model_version_training", table_name="ml_model_version")
