"""Ids and the columns that refer to them become 64-bit (BIGINT) on Postgres.

The code has always treated ids as 64-bit (SQLite's INTEGER is); Postgres held them
as 32-bit ``integer``, so a number past 2^31 - 1 in a URL failed in the driver (500)
and the id sequences would have stopped at that number. SQLite is left as it is: its
``INTEGER PRIMARY KEY`` is already 64-bit. The downgrade fails if an id no longer fits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, id and foreign key columns); tables with an ``id`` have a sequence of their own.
ID_COLUMNS = {
    "timeseries": ["id"],
    "ts_version": ["id", "timeseries_id"],
    "ts_value": ["version_id"],
    "data_config": ["id"],
    "data_config_series": ["data_config_id", "timeseries_id"],
    "preprocessing_config": ["id"],
    "ml_config": ["id"],
    "ml_model": ["id", "ml_config_id", "data_config_id", "preprocessing_config_id"],
    "ml_model_version": ["id", "model_id"],
}


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine, sequence_type: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in ID_COLUMNS.items():
        for column in columns:
            op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=False)
        if "id" in columns:
            op.execute(f"ALTER SEQUENCE {table}_id_seq AS {sequence_type}")


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger(), "bigint")


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer(), "integer")
